package telemetry

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Summary is what the periodic stats line and the final statistics report.
// It is computed from the metrics registry, the one source of truth.
type Summary struct {
	Uptime         time.Duration
	EventsBySource map[string]float64
	Events         float64
	Deduped        float64
	IntentsByType  map[string]float64
	Intents        float64
	IntentsDeduped float64
	EmitFailures   float64
	IntentsLost    float64
	IntentsQueued  float64
	SpoolLost      float64
	SpoolQueued    float64
	Restarts       float64
	MailboxDropped float64
	ZooidsAlive    float64
	ZooidsSilent   float64
	GapsPublished  float64
}

// Summarize reads the registry. Metrics that do not exist (an area that is
// disabled) read as zero.
func Summarize(g prometheus.Gatherer, started time.Time) Summary {
	s := Summary{Uptime: time.Since(started), EventsBySource: map[string]float64{}, IntentsByType: map[string]float64{}}
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), Namespace+"_")
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			label := func(n string) string {
				for _, l := range m.GetLabel() {
					if l.GetName() == n {
						return l.GetValue()
					}
				}
				return ""
			}
			switch name {
			case "events_total":
				s.EventsBySource[label("source")] += v
				s.Events += v
			case "events_deduplicated_total":
				s.Deduped += v
			case "intents_written_total":
				s.IntentsByType[label("type")] += v
				s.Intents += v
			case "intents_deduplicated_total":
				s.IntentsDeduped += v
			case "intent_write_failures_total":
				s.EmitFailures += v
			case "intents_lost_total":
				s.IntentsLost += v
			case "intents_queued":
				s.IntentsQueued += v
			case "spool_events_lost_total":
				s.SpoolLost += v
			case "spool_events_queued":
				s.SpoolQueued += v
			case "actor_restarts_total":
				s.Restarts += v
			case "mailbox_dropped_messages_total":
				s.MailboxDropped += v
			case "zooids":
				switch label("state") {
				case "alive":
					s.ZooidsAlive += v
				case "silent":
					s.ZooidsSilent += v
				}
			case "capability_gaps_published_total":
				s.GapsPublished += v
			}
		}
	}
	return s
}

func kv(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.0f", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// Attrs returns the summary as slog key/value pairs.
func (s Summary) Attrs() []any {
	return []any{
		"uptime_seconds", s.Uptime.Round(time.Second).Seconds(),
		"events", s.Events, "events_by_source", kv(s.EventsBySource), "events_deduplicated", s.Deduped,
		"intents", s.Intents, "intents_by_type", kv(s.IntentsByType), "intents_deduplicated", s.IntentsDeduped,
		"intent_write_failures", s.EmitFailures, "intents_lost", s.IntentsLost, "intents_queued", s.IntentsQueued,
		"spool_events_lost", s.SpoolLost, "spool_events_queued", s.SpoolQueued,
		"actor_restarts", s.Restarts, "mailbox_dropped", s.MailboxDropped,
		"zooids_alive", s.ZooidsAlive, "zooids_silent", s.ZooidsSilent, "gaps_published", s.GapsPublished,
	}
}

// Status is a one-line human summary (systemd STATUS=).
func (s Summary) Status() string {
	return fmt.Sprintf("uptime %s; events %.0f (%.0f deduplicated); intents %.0f; zooids %.0f alive, %.0f silent; restarts %.0f",
		s.Uptime.Round(time.Second), s.Events, s.Deduped, s.Intents, s.ZooidsAlive, s.ZooidsSilent, s.Restarts)
}
