// Package clock lets time be injected, so rules and watchers are tested with a
// fake clock instead of sleeping.
package clock

import (
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

// Real is the wall clock (with Go's monotonic reading).
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Fake is a clock moved by hand. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set moves the fake time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}
