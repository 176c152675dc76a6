// Package timer sends an actor a message later or at an interval.
//
// It replaces protoactor's scheduler package, whose repeating timer reads
// its cancel flag without synchronization (a data race under -race) and may
// still send once after its CancelFunc returned. Here, once Cancel returns,
// nothing more is sent.
//
// Repeating timers tick on one process-wide grid (NextTick): timers whose
// intervals divide one another fire in the same instant, so the daemon wakes
// once for all of them. The SUB side's coalesced reads, the heartbeat lag
// probe, the deadline refresh and the registry's sweep all use it; with 1,000
// zooids beating the whole daemon wakes about once a second
// (bench/RESULTS.md).
package timer

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Cancel stops a timer. After it returns the timer sends nothing more.
// Calling it again is harmless.
type Cancel func()

// origin is the phase of all periodic work in this process: repeating
// timers tick at origin + k·interval, so timers whose intervals divide one
// another (250 ms, 1 s, 10 s) fire in the same instant and the process
// wakes once for all of them rather than once for each. On a VM where a
// wake-up costs tens of microseconds that is most of an idle daemon's CPU.
var origin = time.Now()

// NextTick returns the first instant after t on the grid of period.
func NextTick(t time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return t
	}
	d := t.Sub(origin)
	n := d / period
	if d < 0 && d%period != 0 {
		n-- // floor, not Go's truncation toward zero: t before the origin (a fake clock's past epoch)
	}
	return origin.Add((n + 1) * period)
}

// Every sends msg to pid after delay, then on every tick of interval's grid
// (see NextTick), until cancelled.
func Every(system *actor.ActorSystem, delay, interval time.Duration, pid *actor.PID, msg any) Cancel {
	return start(system, delay, interval, pid, msg)
}

// Once sends msg to pid after delay unless cancelled first.
func Once(system *actor.ActorSystem, delay time.Duration, pid *actor.PID, msg any) Cancel {
	return start(system, delay, 0, pid, msg)
}

func start(system *actor.ActorSystem, delay, interval time.Duration, pid *actor.PID, msg any) Cancel {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock() // the callback must not run before t is assigned
	defer mu.Unlock()
	t = time.AfterFunc(delay, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		system.Root.Send(pid, msg)
		if interval > 0 {
			t.Reset(time.Until(NextTick(time.Now(), interval)))
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}
