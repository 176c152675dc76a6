package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/expr-lang/expr/types"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	RegisterKind("match", newMatch)
	RegisterKind("count", newCount)
	RegisterKind("absence", newAbsence)
	RegisterKind("rate", newRate)
	RegisterKind("phase_report", newPhaseReport)
}

// ---- match: one matching event, one intent ----

type matchKind struct{}

func newMatch(*Settings) (kind, error) { return matchKind{}, nil }

func (matchKind) vars() types.Map          { return types.Map{} }
func (matchKind) tickEvery() time.Duration { return 0 }
func (matchKind) newGroup(time.Time) group { return &matchGroup{} }
func (matchKind) programs() []*program     { return nil }
func (*matchGroup) event(*messages.Event, time.Time, *runner) bool {
	return true
}

type matchGroup struct{}

func (*matchGroup) tick(time.Time) bool           { return false }
func (*matchGroup) vars(time.Time) map[string]any { return map[string]any{} }
func (*matchGroup) fired(time.Time)               {}
func (*matchGroup) idle(time.Time) bool           { return true }
func (*matchGroup) MarshalJSON() ([]byte, error)  { return []byte("{}"), nil }
func (*matchGroup) UnmarshalJSON([]byte) error    { return nil }

// ---- count: threshold events within a window ----

// countKind fires when the events in the last window reach threshold
// (compare ">=", or ">"). value, when it yields a number, is a count the
// event already carries (a scraped increase): it is compared instead, and
// the event does not enter the window. The window is emptied when an
// intent is written; keep bounds what it remembers (the newest).
type countKind struct {
	events    bool // some expression reads window.events (else it is not built)
	window    time.Duration
	threshold float64
	strict    bool
	keep      int
	value     *program
}

func newCount(s *Settings) (kind, error) {
	k := &countKind{
		window:    s.Duration("window", 0),
		threshold: s.Float("threshold", 0),
		keep:      s.Int("keep", 100),
		value:     s.Expr("value", false),
	}
	switch s.String("compare", ">=") {
	case ">=":
	case ">":
		k.strict = true
	default:
		s.Fail("compare", "compare: want >= or >")
	}
	if k.window <= 0 {
		return nil, fmt.Errorf("window = %s: must be a positive duration", k.window)
	}
	if k.keep < 1 {
		return nil, fmt.Errorf("keep = %d: must be >= 1", k.keep)
	}
	return k, nil
}

func (k *countKind) vars() types.Map {
	return types.Map{"count": types.Int, "value": types.Float64,
		"events": types.Array(types.Map{"type": types.String, "source": types.String, "ts": types.Float64,
			"data": types.Map{types.Extra: types.Any}}),
		"first_ts": types.Float64, "last_ts": types.Float64}
}
func (k *countKind) tickEvery() time.Duration     { return 0 }
func (k *countKind) reads(window map[string]bool) { k.events = window["events"] }
func (k *countKind) newGroup(time.Time) group     { return &countGroup{k: k} }
func (k *countKind) programs() []*program {
	if k.value != nil {
		return []*program{k.value}
	}
	return nil
}

type countGroup struct {
	k       *countKind
	seen    []seenEvent // time order; only the newest k.keep count (compacted lazily)
	value   float64
	counted bool
}

type seenEvent struct {
	At time.Time
	Ev *messages.Event
}

func (g *countGroup) reached(v float64) bool {
	if g.k.strict {
		return v > g.k.threshold
	}
	return v >= g.k.threshold
}

// window returns the events that count: the newest keep.
func (g *countGroup) window() []seenEvent {
	if len(g.seen) > g.k.keep {
		return g.seen[len(g.seen)-g.k.keep:]
	}
	return g.seen
}

func (g *countGroup) event(ev *messages.Event, now time.Time, r *runner) bool {
	if p := g.k.value; p != nil && p.num != nil {
		if f, ok := p.num(r); ok {
			g.value, g.counted = f, false
			return g.reached(f)
		}
	} else if p != nil {
		v, err := r.run(p)
		if err == nil {
			if f, ok := toFloat(v); ok {
				if _, isStr := v.(string); !isStr {
					g.value, g.counted = f, false
					return g.reached(f)
				}
			}
		}
	}
	// drop what left the window (the oldest come first)
	i := 0
	for i < len(g.seen) && now.Sub(g.seen[i].At) >= g.k.window {
		i++
	}
	if i > 0 {
		g.seen = append(g.seen[:0], g.seen[i:]...)
	}
	if len(g.seen) >= 2*g.k.keep { // a flood during a cooldown: keep the newest
		g.seen = append(g.seen[:0], g.seen[len(g.seen)-g.k.keep:]...)
	}
	g.seen = append(g.seen, seenEvent{At: now, Ev: ev})
	g.value, g.counted = float64(len(g.window())), true
	return g.reached(g.value)
}

func (g *countGroup) tick(time.Time) bool { return false }

func (g *countGroup) vars(time.Time) map[string]any {
	m := make(map[string]any, 6)
	g.varsInto(m)
	return m
}

// varsInto fills an empty map with what vars returns.
func (g *countGroup) varsInto(m map[string]any) {
	for _, k := range countVars {
		m[k] = g.windowVar(k)
	}
}

var countVars = [...]string{"count", "value", "events", "first_ts", "last_ts"}

// windowVar is one of vars' values (nil for another name): plain reads of
// window.X take it without a map being built.
func (g *countGroup) windowVar(name string) any {
	w := g.window()
	switch name {
	case "count":
		return len(w)
	case "value":
		return g.value
	case "events":
		if !g.k.events {
			return []any{} // not read (countKind.events)
		}
		evs := make([]any, 0, len(w))
		for _, s := range w {
			d := s.Ev.Data
			if d == nil {
				d = map[string]any{}
			}
			evs = append(evs, map[string]any{"type": s.Ev.Type, "source": s.Ev.Source, "ts": epoch(s.Ev.TS), "data": d})
		}
		return evs
	case "first_ts":
		if len(w) == 0 {
			return 0.0
		}
		return epoch(w[0].At)
	case "last_ts":
		if len(w) == 0 {
			return 0.0
		}
		return epoch(w[len(w)-1].At)
	}
	return nil
}

// savedEvent is a window entry in a checkpoint.
type savedEvent struct {
	At     time.Time      `json:"at"`
	Type   string         `json:"type"`
	Source string         `json:"source"`
	TS     time.Time      `json:"ts"`
	Data   map[string]any `json:"data,omitempty"`
}

func (g *countGroup) fired(time.Time) {
	if g.counted {
		g.seen = g.seen[:0]
	}
}

func (g *countGroup) idle(now time.Time) bool {
	for _, s := range g.seen {
		if now.Sub(s.At) < g.k.window {
			return false
		}
	}
	return true
}

func (g *countGroup) MarshalJSON() ([]byte, error) {
	w := g.window()
	out := make([]savedEvent, len(w))
	for i, s := range w {
		out[i] = savedEvent{At: s.At, Type: s.Ev.Type, Source: s.Ev.Source, TS: s.Ev.TS, Data: s.Ev.Data}
	}
	return json.Marshal(struct {
		Seen []savedEvent `json:"seen"`
	}{out})
}

func (g *countGroup) UnmarshalJSON(b []byte) error {
	var st struct {
		Seen []savedEvent `json:"seen"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	g.seen = g.seen[:0]
	for _, s := range st.Seen {
		g.seen = append(g.seen, seenEvent{At: s.At, Ev: &messages.Event{Type: s.Type, Source: s.Source, TS: s.TS, Data: s.Data}})
	}
	return nil
}

// ---- absence: no matching event for a while ----

// absenceKind fires when no matching event arrived for `for`, counting from
// the rule's start (armed at the first tick) or the last event. It fires
// once per silence and re-arms when an event arrives. It is checked 20
// times per `for` (at most every 5 s), so a silence is reported at most 5%
// late.
type absenceKind struct{ after time.Duration }

func newAbsence(s *Settings) (kind, error) {
	k := &absenceKind{after: s.Duration("for", 0)}
	if k.after <= 0 {
		return nil, fmt.Errorf("for = %s: must be a positive duration", k.after)
	}
	return k, nil
}

func (k *absenceKind) vars() types.Map {
	return types.Map{"last_seen": types.Any, "since": types.Float64, "silent_seconds": types.Float64,
		"seen": types.Bool}
}
func (k *absenceKind) tickEvery() time.Duration { return min(k.after/20, 5*time.Second) }
func (k *absenceKind) newGroup(now time.Time) group {
	return &absenceGroup{k: k}
}
func (k *absenceKind) programs() []*program { return nil }

type absenceGroup struct {
	k       *absenceKind
	Last    time.Time `json:"last"` // last event, or when waiting began
	Seen    bool      `json:"seen"`
	Alerted bool      `json:"alerted"`
	// restored: the state comes from a checkpoint. Events that happened
	// while the daemon was down were not seen, so a silence that would be
	// due at the first tick gets one `for` of grace instead (as zooid
	// watchers do after a restart); one already reported stays reported.
	restored bool
}

func (g *absenceGroup) event(_ *messages.Event, now time.Time, _ *runner) bool {
	g.Last, g.Seen, g.Alerted = now, true, false
	return false
}

func (g *absenceGroup) tick(now time.Time) bool {
	if g.Last.IsZero() {
		g.Last = now
		return false
	}
	if g.restored {
		g.restored = false
		if !g.Alerted && now.Sub(g.Last) >= g.k.after {
			g.Last = now
			return false
		}
	}
	return !g.Alerted && now.Sub(g.Last) >= g.k.after
}

func (g *absenceGroup) vars(now time.Time) map[string]any {
	m := map[string]any{"last_seen": nil, "since": epoch(g.Last), "silent_seconds": now.Sub(g.Last).Seconds(),
		"seen": g.Seen}
	if g.Seen {
		m["last_seen"] = epoch(g.Last)
	}
	return m
}

func (g *absenceGroup) fired(time.Time)     { g.Alerted = true }
func (g *absenceGroup) idle(time.Time) bool { return false }
func (g *absenceGroup) MarshalJSON() ([]byte, error) {
	type plain absenceGroup
	return json.Marshal((*plain)(g))
}
func (g *absenceGroup) UnmarshalJSON(b []byte) error {
	type plain absenceGroup
	k := g.k
	err := json.Unmarshal(b, (*plain)(g))
	g.k, g.restored = k, true
	return err
}
