// Package clock lets time be injected, so rules and watchers are tested with a
// fake clock instead of sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Base is the process-wide origin for monotonic instants kept in atomics as
// int64 nanoseconds (t.Sub(Base)): the ChemBus watermark, the heartbeat
// deadlines and last-beat times share it, so their numbers compare.
var Base = time.Now()

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Timer is a one-shot timer on a clock's time, as time.Timer (Go 1.23
// semantics: after Reset or Stop returns, no stale value is received).
type Timer interface {
	// C delivers the clock's time once the timer fires.
	C() <-chan time.Time
	// Reset makes the timer fire d from now (on its clock), replacing any
	// earlier setting.
	Reset(d time.Duration)
	// ResetAt makes the timer fire when its clock reads at (at once if that
	// has passed). Work on a grid arms for an instant, not a duration: a
	// duration computed from an earlier reading would drift by the time
	// spent since.
	ResetAt(at time.Time)
	// Stop keeps the timer from firing.
	Stop()
}

// TimerClock is a Clock that makes timers on its own time (Real and *Fake
// do).
type TimerClock interface {
	Clock
	NewTimer(d time.Duration) Timer
}

// NewTimer returns a timer that fires d from now on c's time: c's own
// timer if c makes timers, else a real one.
func NewTimer(c Clock, d time.Duration) Timer {
	if tc, ok := c.(TimerClock); ok {
		return tc.NewTimer(d)
	}
	return realTimer{time.NewTimer(d)}
}

// Since is c.Now().Sub(t).
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Real is the wall clock (with Go's monotonic reading).
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) ResetAt(at time.Time)  { r.t.Reset(time.Until(at)) }
func (r realTimer) Stop()                 { r.t.Stop() }

// Fake is a clock moved by hand; its timers fire when Advance or Set moves
// it past their time. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{} // armed
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, timers: map[*fakeTimer]struct{}{}} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d, firing the timers it passes
// (in time order).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(f.now.Add(d))
}

// Set moves the fake time to t, firing the timers it passes.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLocked(t)
}

func (f *Fake) setLocked(t time.Time) {
	f.now = t
	var due []*fakeTimer
	for ft := range f.timers {
		if !ft.at.After(t) {
			due = append(due, ft)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, ft := range due {
		delete(f.timers, ft)
		ft.fire(t)
	}
}

// Timers is how many timers are armed on f: a test waits for a goroutine to
// be parked on the clock again before it moves time on.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NewTimer returns a timer that fires when f reaches d from now.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// fire delivers now (called with f.mu held, after t left f.timers).
func (t *fakeTimer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default: // one undelivered value already: as a real timer, it is enough
	}
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.resetLocked(t.f.now.Add(d))
}

func (t *fakeTimer) ResetAt(at time.Time) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.resetLocked(at)
}

func (t *fakeTimer) resetLocked(at time.Time) {
	t.drain()
	t.at = at
	if !at.After(t.f.now) {
		delete(t.f.timers, t)
		t.fire(t.f.now)
		return
	}
	if t.f.timers == nil { // a Fake made without NewFake
		t.f.timers = map[*fakeTimer]struct{}{}
	}
	t.f.timers[t] = struct{}{}
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	delete(t.f.timers, t)
	t.drain()
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}
