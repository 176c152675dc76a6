package rules

import (
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

// simpleConfig is the configuration of a rule that turns each matching event
// into one intent (repeats are held back by the dispatcher's 60 s event
// dedup and the emitter's 1 h identical-intent dedup).
type simpleConfig struct {
	Priority int `yaml:"priority"`
}

// simple is the shape shared by the one-event-one-intent rules.
type simple struct {
	types      []string
	intentType string
	priority   int
	build      func(ev *messages.Event) (reason string, data messages.Object, ok bool)
}

func newSimple(node *yaml.Node, s simple) (Rule, error) {
	c := simpleConfig{Priority: s.priority}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	s.priority = c.Priority
	return &s, nil
}

func (r *simple) Subscribes() []string               { return r.types }
func (r *simple) TickEvery() time.Duration           { return 0 }
func (r *simple) OnTick(time.Time) []messages.Intent { return none }

func (r *simple) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	if !slices.Contains(r.types, ev.Type) {
		return none // the dispatcher routes by type; a rule still checks its own
	}
	reason, data, ok := r.build(ev)
	if !ok {
		return none
	}
	return []messages.Intent{{Type: r.intentType, Priority: r.priority, Reason: reason, Data: data, GeneratedAt: now}}
}

func where(ev *messages.Event) string {
	if u := str(ev, "unit"); u != "" {
		return u
	}
	if p := str(ev, "path"); p != "" {
		return p
	}
	return ev.Source
}
