package rules

import (
	"log/slog"
	"time"

	"github.com/kloros/kloros-observer/messages"
)

// Sim runs a whole rule set on a clock it is given: the engine of `rules
// test` and `rules replay`, with no actor, timer or file written. Each rule
// is ticked at the start and then every TickEvery, as its actor would be.
type Sim struct {
	inst   []*Instance
	next   []time.Time
	routes map[string][]int
	now    time.Time
}

// Fired is one intent a rule proposed, and when.
type Fired struct {
	At     time.Time
	Rule   string
	Intent messages.Intent
}

// NewSim starts every rule of set at start.
func NewSim(set *Set, start time.Time, log *slog.Logger) *Sim {
	s := &Sim{routes: map[string][]int{}, now: start}
	for i, c := range set.Rules() {
		in := c.New()
		if log != nil {
			in.SetLogger(log)
		}
		s.inst = append(s.inst, in)
		s.next = append(s.next, start)
		for _, t := range c.on {
			s.routes[t] = append(s.routes[t], i)
		}
	}
	return s
}

// Instance returns the running instance of the named rule (nil if none).
func (s *Sim) Instance(name string) *Instance {
	for _, in := range s.inst {
		if in.c.name == name {
			return in
		}
	}
	return nil
}

// Advance ticks every rule up to t, in time order.
func (s *Sim) Advance(t time.Time) []Fired {
	var out []Fired
	for {
		// the earliest due tick across rules
		at, who := time.Time{}, -1
		for i, in := range s.inst {
			every := in.TickEvery()
			if every <= 0 || s.next[i].After(t) {
				continue
			}
			if who < 0 || s.next[i].Before(at) {
				at, who = s.next[i], i
			}
		}
		if who < 0 {
			break
		}
		in := s.inst[who]
		for _, x := range in.OnTick(at) {
			out = append(out, Fired{At: at, Rule: in.c.name, Intent: x})
		}
		s.next[who] = at.Add(in.TickEvery())
	}
	if t.After(s.now) {
		s.now = t
	}
	return out
}

// Event ticks up to the event's time (or the current time, if earlier) and
// hands the event to the rules that read its type.
func (s *Sim) Event(ev *messages.Event) []Fired {
	at := ev.TS
	if at.Before(s.now) {
		at = s.now
	}
	out := s.Advance(at)
	for _, i := range s.routes[ev.Type] {
		in := s.inst[i]
		for _, x := range in.OnEvent(ev, at) {
			out = append(out, Fired{At: at, Rule: in.c.name, Intent: x})
		}
	}
	return out
}
