package chembus

import (
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors/clock"
)

// Watermark lets a watcher whose deadline has passed ask: has every
// heartbeat that reached our SUB socket before the deadline already been
// applied by the registry? Only then is the silence real. Without it, a
// heartbeat that arrived in time but still sat in our own pipeline (ZeroMQ's
// queue while the SUB side coalesces, the decoder's channel, the registry's
// mailbox under load) would produce a false CAPABILITY_GAP.
//
// It is a set of counters and times written by the three stages and read by
// the watchers, all sequentially consistent atomics. Each writer publishes
// upstream facts before downstream ones, and caughtUp reads them in the
// order that makes a stale read err on the side of "not yet":
//
//   - SUB goroutine: adds each batch to handed, then publishes emptyAt (when
//     it last found the socket empty); sets parked while it has no
//     connection (nothing can be pending then).
//   - decoder: stamps every heartbeat it forwards with the next seq (the
//     forwarded count), then adds the message to consumed.
//   - registry: stores the seq of each heartbeat it applied in applied.
//
// A heartbeat the registry's mailbox dropped under a flood still lets
// applied catch up (a later seq passes it), so a drop cannot wedge the
// watchers.
type Watermark struct {
	waker     atomic.Pointer[func()] // the SUB goroutine's: read now
	parked    atomic.Bool
	emptyAt   atomic.Int64 // monotonic ns since clock.Base
	handed    atomic.Int64
	consumed  atomic.Int64
	forwarded atomic.Uint64
	applied   atomic.Uint64
}

// NewWatermark returns the watermark one ChemBus actor and one registry
// share.
func NewWatermark() *Watermark {
	return &Watermark{}
}

// CaughtUp reports whether everything that arrived before deadline has been
// applied. A nil watermark (no ChemBus in front of the registry) always is.
func (w *Watermark) CaughtUp(deadline time.Time) bool {
	if w == nil {
		return true
	}
	drained := w.parked.Load() || w.emptyAt.Load() >= int64(deadline.Sub(clock.Base))
	if !drained || w.handed.Load() != w.consumed.Load() {
		return false
	}
	return w.applied.Load() >= w.forwarded.Load()
}

// Kick asks the SUB goroutine to read now instead of at the end of its
// coalescing window (or of its wait for a first byte).
func (w *Watermark) Kick() {
	if w == nil {
		return
	}
	if f := w.waker.Load(); f != nil {
		(*f)()
	}
}

// setWaker installs what Kick calls (nil: nothing).
func (w *Watermark) setWaker(f func()) {
	if f == nil {
		w.waker.Store(nil)
		return
	}
	w.waker.Store(&f)
}

// MarkApplied records that the registry applied the heartbeat with seq.
func (w *Watermark) MarkApplied(seq uint64) {
	if w == nil || seq == 0 {
		return
	}
	for {
		cur := w.applied.Load()
		if seq <= cur || w.applied.CompareAndSwap(cur, seq) {
			return
		}
	}
}
