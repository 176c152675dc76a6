package rules

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() { Register("lock_contention", newLockContention) }

type lockContentionConfig struct {
	Threshold float64       `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	Priority  int           `yaml:"priority"`
}

// lockContention fires on lock_contention* events whose value exceeds
// Threshold. Scraped events (lock_contention_high) carry the metric's value;
// journal events (lock_contention) carry none, so those are counted within
// Window and the count is the value.
type lockContention struct {
	cfg    lockContentionConfig
	recent []time.Time
}

func newLockContention(node *yaml.Node) (Rule, error) {
	c := lockContentionConfig{Threshold: 10, Window: 10 * time.Minute, Priority: 5}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if err := positive("window", c.Window); err != nil {
		return nil, err
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	return &lockContention{cfg: c}, nil
}

func (r *lockContention) Subscribes() []string {
	return []string{"lock_contention", "lock_contention_high"}
}
func (r *lockContention) TickEvery() time.Duration           { return 0 }
func (r *lockContention) OnTick(time.Time) []messages.Intent { return none }

func (r *lockContention) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	if !strings.HasPrefix(ev.Type, "lock_contention") {
		return none
	}
	v, ok := number(ev, "value")
	if !ok {
		keep := r.recent[:0]
		for _, t := range r.recent {
			if now.Sub(t) < r.cfg.Window {
				keep = append(keep, t)
			}
		}
		r.recent = append(keep, now)
		v = float64(len(r.recent))
	}
	if v <= r.cfg.Threshold {
		return none
	}
	if !ok {
		r.recent = r.recent[:0]
	}
	data := messages.Object{{Key: "contention_count", Value: v}, {Key: "threshold", Value: r.cfg.Threshold}}
	data = append(data, eventFields(ev)...)
	data = append(data, messages.KV{Key: "suggestions", Value: []any{"Lower the orchestrator tick rate", "Shorten lock hold times in PHASE/D-REAM"}})
	return []messages.Intent{{
		Type: "suggest_lock_optimization", Priority: r.cfg.Priority, GeneratedAt: now,
		Reason: fmt.Sprintf("Lock contention spike detected: %s contentions", trimFloat(v)),
		Data:   data,
	}}
}

func trimFloat(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%g", v)
}
