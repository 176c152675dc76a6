package rules

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() { Register("phase_duration", newPhaseDuration) }

type phaseDurationConfig struct {
	Threshold time.Duration `yaml:"threshold"`
	Priority  int           `yaml:"priority"`
}

// phaseDuration suggests optimizing PHASE when a run took longer than
// Threshold (phase_duration_high events from the scrape source carry the
// duration in seconds as "value").
type phaseDuration struct{ cfg phaseDurationConfig }

func newPhaseDuration(node *yaml.Node) (Rule, error) {
	c := phaseDurationConfig{Threshold: 2 * time.Hour, Priority: 6}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if err := positive("threshold", c.Threshold); err != nil {
		return nil, err
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	return &phaseDuration{cfg: c}, nil
}

func (r *phaseDuration) Subscribes() []string               { return []string{"phase_duration_high"} }
func (r *phaseDuration) TickEvery() time.Duration           { return 0 }
func (r *phaseDuration) OnTick(time.Time) []messages.Intent { return none }

func (r *phaseDuration) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	v, ok := number(ev, "value")
	if ok && v <= r.cfg.Threshold.Seconds() {
		return none
	}
	data := messages.Object{}
	if ok {
		data = append(data, messages.KV{Key: "duration_seconds", Value: v})
	}
	data = append(data, messages.KV{Key: "threshold_seconds", Value: r.cfg.Threshold.Seconds()})
	return []messages.Intent{{
		Type: "suggest_phase_optimization", Priority: r.cfg.Priority, GeneratedAt: now,
		Reason: fmt.Sprintf("PHASE duration exceeded %s", human(r.cfg.Threshold)),
		Data:   data,
	}}
}
