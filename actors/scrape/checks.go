package scrape

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/messages"
)

// Check is one threshold check on scraped metrics.
// It is also the type of each entry of the top-level checks: list.
type Check struct {
	Name   string `yaml:"name"`
	Metric string `yaml:"metric"`
	// Labels must all match (exact); Exclude drops series whose label has any
	// of the listed values (e.g. fstype: [tmpfs, overlay]).
	Labels  map[string]string   `yaml:"labels"`
	Exclude map[string][]string `yaml:"exclude"`
	// Value is read as: gauge (the sample), or increase over Window (counters:
	// a reset counts as starting from zero, as Prometheus' increase() does).
	Mode   string        `yaml:"mode"` // gauge | increase
	Window time.Duration `yaml:"window"`
	// Ratio divides by this metric's series with the same labels; Invert
	// then takes 1 - ratio (used fraction from available/size). Minus
	// subtracts this metric's series with the same labels (total - free).
	Ratio  string  `yaml:"ratio"`
	Invert bool    `yaml:"invert"`
	Minus  string  `yaml:"minus"`
	Op     string  `yaml:"op"` // > >= < <= == !=
	Value  float64 `yaml:"value"`
	// EventType is emitted when a series crosses the threshold; it is not
	// emitted again until the series went back under (or Renotify passed).
	EventType string        `yaml:"event_type"`
	Renotify  time.Duration `yaml:"renotify"` // 0: once per crossing
}

// series is one scraped sample.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString(name)
	sb.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", k, labels[k])
	}
	sb.WriteByte('}')
	return sb.String()
}

// checker evaluates checks scrape after scrape. It is pure: time is passed
// in, so tests drive it without a clock.
type checker struct {
	checks  []Check
	history map[string][]sample // increase mode: samples within the window, by check+series
	firing  map[string]time.Time
}

type sample struct {
	at time.Time
	v  float64
}

func newChecker(checks []Check) *checker {
	return &checker{checks: checks, history: map[string][]sample{}, firing: map[string]time.Time{}}
}

// evaluate returns the events for one scrape (all series by name) at now,
// and how many series are over each check.
func (c *checker) evaluate(byName map[string][]series, now time.Time) ([]*messages.Event, map[string]int) {
	var out []*messages.Event
	over := map[string]int{}
	seen := map[string]bool{} // series with a value this scrape
	live := map[string]bool{} // series present this scrape, with a value or not
	for _, ch := range c.checks {
		over[ch.Name] = 0
		for _, s := range byName[ch.Metric] {
			if !matches(s.labels, ch.Labels, ch.Exclude) {
				continue
			}
			key := ch.Name + "|" + seriesKey(s.name, s.labels)
			live[key] = true
			v, ok := c.value(ch, key, s, byName, now)
			if !ok {
				continue
			}
			seen[key] = true
			if !compare(v, ch.Op, ch.Value) {
				delete(c.firing, key) // back under: the next crossing fires again
				continue
			}
			over[ch.Name]++
			if at, firing := c.firing[key]; firing && (ch.Renotify <= 0 || now.Sub(at) < ch.Renotify) {
				continue
			}
			c.firing[key] = now
			data := map[string]any{"check": ch.Name, "metric": ch.Metric, "value": v, "threshold": ch.Value,
				"op": ch.Op, "path": seriesKey(s.name, s.labels)}
			for k, lv := range s.labels {
				if _, clash := data[k]; !clash {
					data[k] = lv
				}
			}
			out = append(out, &messages.Event{Source: "metrics", Type: ch.EventType, TS: now, Data: data})
		}
	}
	// Series that disappeared are forgotten, so a churning label set leaves
	// nothing behind: their firing state, and their increase history (were it
	// kept, every label value ever seen would stay in memory).
	for key := range c.firing {
		if !seen[key] {
			delete(c.firing, key)
		}
	}
	for key := range c.history {
		if !live[key] {
			delete(c.history, key)
		}
	}
	return out, over
}

func (c *checker) value(ch Check, key string, s series, byName map[string][]series, now time.Time) (float64, bool) {
	v := s.value
	if ch.Minus != "" {
		o, ok := find(byName[ch.Minus], s.labels)
		if !ok {
			return 0, false
		}
		v -= o
	}
	if ch.Ratio != "" {
		d, ok := find(byName[ch.Ratio], s.labels)
		if !ok || d == 0 {
			return 0, false
		}
		v /= d
		if ch.Invert {
			v = 1 - v
		}
	}
	if ch.Mode != "increase" {
		return v, true
	}
	h := append(c.history[key], sample{at: now, v: v})
	cut := 0
	for cut < len(h)-1 && now.Sub(h[cut].at) > ch.Window {
		cut++
	}
	h = h[cut:]
	c.history[key] = h
	if len(h) < 2 {
		return 0, false // an increase needs two samples
	}
	inc := 0.0
	for i := 1; i < len(h); i++ {
		if d := h[i].v - h[i-1].v; d >= 0 {
			inc += d
		} else {
			inc += h[i].v // counter reset: it restarted from zero
		}
	}
	return inc, true
}

func find(ss []series, labels map[string]string) (float64, bool) {
	for _, s := range ss {
		if sameLabels(s.labels, labels) {
			return s.value, true
		}
	}
	return 0, false
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func matches(labels, want map[string]string, exclude map[string][]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	for k, vs := range exclude {
		for _, v := range vs {
			if labels[k] == v {
				return false
			}
		}
	}
	return true
}

func compare(v float64, op string, t float64) bool {
	switch op {
	case ">":
		return v > t
	case ">=":
		return v >= t
	case "<":
		return v < t
	case "<=":
		return v <= t
	case "==":
		return v == t
	case "!=":
		return v != t
	}
	return false
}

// DefaultChecks are the seed's two checks plus disk space and memory pressure
// from node_exporter metrics.
func DefaultChecks() []Check {
	pseudo := map[string][]string{"fstype": {"tmpfs", "devtmpfs", "overlay", "squashfs", "ramfs", "nsfs", "proc", "sysfs"}}
	return []Check{
		// The seed compared the raw counter, which fired forever once past 10;
		// here it is the increase over 10 minutes.
		{Name: "lock_contention", Metric: "kloros_orchestrator_lock_contention_total", Mode: "increase", Window: 10 * time.Minute,
			Op: ">", Value: 10, EventType: "lock_contention_high"},
		{Name: "phase_duration", Metric: "kloros_phase_duration_seconds", Mode: "gauge", Op: ">", Value: 7200,
			EventType: "phase_duration_high"},
		{Name: "disk_space", Metric: "node_filesystem_avail_bytes", Ratio: "node_filesystem_size_bytes", Invert: true,
			Exclude: pseudo, Mode: "gauge", Op: ">", Value: 0.8, EventType: "disk_space_high"},
		{Name: "memory_available", Metric: "node_memory_MemAvailable_bytes", Ratio: "node_memory_MemTotal_bytes", Invert: true,
			Mode: "gauge", Op: ">", Value: 0.9, EventType: "memory_pressure"},
		{Name: "swap_used", Metric: "node_memory_SwapTotal_bytes", Minus: "node_memory_SwapFree_bytes",
			Mode: "gauge", Op: ">", Value: 256 << 20, EventType: "memory_pressure"},
	}
}
