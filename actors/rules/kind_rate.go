package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/expr-lang/expr/types"

	"github.com/kloros/kloros-observer/messages"
)

// rateKind compares the events of the last window with what the baseline
// before it predicts: a spike (count >= spike × expected and >= min_count)
// or a stall (count <= stall × expected while expected >= min_expected).
// It fires once when the rate enters a spike or a stall and again only
// after it went back to normal. Counts are kept in buckets of window/12,
// so memory is bounded by baseline/window × 12 whatever the event rate.
// Nothing is judged before one window of baseline history exists.
type rateKind struct {
	window, baseline time.Duration
	spike, stall     float64
	minCount         int
	minExpected      float64
	width            time.Duration
}

func newRate(s *Settings) (kind, error) {
	k := &rateKind{
		window:      s.Duration("window", time.Hour),
		baseline:    s.Duration("baseline", 24*time.Hour),
		spike:       s.Float("spike", 3),
		stall:       s.Float("stall", 0.25),
		minCount:    s.Int("min_count", 3),
		minExpected: s.Float("min_expected", 2),
	}
	if k.window <= 0 || k.baseline < k.window {
		return nil, fmt.Errorf("window = %s, baseline = %s: want 0 < window <= baseline", k.window, k.baseline)
	}
	if k.spike <= 1 || k.stall < 0 || k.stall >= 1 {
		return nil, fmt.Errorf("spike = %v, stall = %v: want spike > 1 and 0 <= stall < 1", k.spike, k.stall)
	}
	k.width = k.window / 12
	return k, nil
}

func (k *rateKind) vars() types.Map {
	return types.Map{"count": types.Int, "expected": types.Float64, "ratio": types.Float64,
		"direction": types.String, "baseline_count": types.Int, "window_seconds": types.Float64,
		"baseline_seconds": types.Float64}
}
func (k *rateKind) tickEvery() time.Duration { return k.width }
func (k *rateKind) newGroup(now time.Time) group {
	return &rateGroup{k: k, Start: now, Ring: make([]int, k.slots())}
}
func (k *rateKind) programs() []*program { return nil }

// slots is the ring's length: the window's buckets and the baseline's.
func (k *rateKind) slots() int { return int(k.window/k.width) + int(k.baseline/k.width) }

// rateGroup counts events in a ring of buckets; Head is the bucket index
// (time / width) of the newest slot. Sums are recomputed only when Head
// moves, so an event in the current bucket costs one increment.
type rateGroup struct {
	k     *rateKind
	Start time.Time `json:"start"`
	Ring  []int     `json:"ring"`
	Head  int64     `json:"head"`
	State string    `json:"state"` // "", "spike", "stall"
	count int       // events in the window
	base  int       // events in the baseline before it
	last  rateObservation
}

type rateObservation struct {
	count, base int
	expected    float64
	covered     time.Duration
	direction   string
}

func (g *rateGroup) bucket(t time.Time) int64 { return t.UnixNano() / int64(g.k.width) }

// advance moves Head to now's bucket, clearing the slots it passes and
// keeping the sums: per bucket passed, one leaves the baseline and one
// moves from the window into it.
func (g *rateGroup) advance(now time.Time) {
	b := g.bucket(now)
	if b <= g.Head {
		return
	}
	n := int64(len(g.Ring))
	if b-g.Head >= n {
		clear(g.Ring)
		g.Head, g.count, g.base = b, 0, 0
		return
	}
	per := int64(g.k.window / g.k.width)
	mod := func(i int64) int64 { return (i%n + n) % n }
	for i := g.Head + 1; i <= b; i++ {
		g.base -= g.Ring[mod(i)] // bucket i-n leaves the baseline
		g.Ring[mod(i)] = 0
		moving := g.Ring[mod(i-per)] // bucket i-per leaves the window
		g.count -= moving
		g.base += moving
	}
	g.Head = b
}

func (g *rateGroup) sum() {
	n := int64(len(g.Ring))
	per := int64(g.k.window / g.k.width)
	g.count, g.base = 0, 0
	for i := int64(0); i < n; i++ {
		v := g.Ring[((g.Head-i)%n+n)%n]
		if i < per {
			g.count += v
		} else {
			g.base += v
		}
	}
}

func (g *rateGroup) observe(now time.Time) rateObservation {
	if g.Start.IsZero() {
		g.Start = now
	}
	g.advance(now)
	o := rateObservation{count: g.count, base: g.base}
	o.covered = min(g.k.baseline, now.Sub(g.Start)-g.k.window)
	if o.covered < g.k.window {
		return o
	}
	o.expected = float64(o.base) * float64(g.k.window) / float64(o.covered)
	switch {
	case o.count >= g.k.minCount && float64(o.count) >= g.k.spike*o.expected:
		o.direction = "spike"
	case o.expected >= g.k.minExpected && float64(o.count) <= g.k.stall*o.expected:
		o.direction = "stall"
	}
	return o
}

func (g *rateGroup) judge(now time.Time) bool {
	o := g.observe(now)
	g.last = o
	if o.direction == "" {
		if o.covered >= g.k.window {
			g.State = ""
		}
		return false
	}
	return o.direction != g.State
}

func (g *rateGroup) event(_ *messages.Event, now time.Time, _ *runner) bool {
	if g.Start.IsZero() {
		g.Start = now
	}
	g.advance(now)
	if g.bucket(now) == g.Head { // an event older than Head counts where it is
		g.Ring[g.Head%int64(len(g.Ring))]++
		g.count++
	}
	return g.judge(now)
}

func (g *rateGroup) tick(now time.Time) bool { return g.judge(now) }

func (g *rateGroup) vars(time.Time) map[string]any {
	o := g.last
	ratio := 0.0
	if o.expected > 0 {
		ratio = float64(o.count) / o.expected
	}
	return map[string]any{"count": o.count, "expected": o.expected, "ratio": ratio, "direction": o.direction,
		"baseline_count": o.base, "window_seconds": g.k.window.Seconds(), "baseline_seconds": o.covered.Seconds()}
}

func (g *rateGroup) fired(time.Time)     { g.State = g.last.direction }
func (g *rateGroup) idle(time.Time) bool { return g.count == 0 && g.base == 0 }

func (g *rateGroup) MarshalJSON() ([]byte, error) {
	type plain rateGroup
	return json.Marshal((*plain)(g))
}

func (g *rateGroup) UnmarshalJSON(b []byte) error {
	type plain rateGroup
	k := g.k
	err := json.Unmarshal(b, (*plain)(g))
	g.k = k
	if err != nil {
		return err
	}
	if len(g.Ring) != g.k.slots() { // another shape: start over
		g.Ring, g.Head = make([]int, g.k.slots()), 0
	}
	g.sum()
	return nil
}
