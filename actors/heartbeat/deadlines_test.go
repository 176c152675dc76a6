package heartbeat

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
)

// The shared deadline timer delivers each slot's latest arming once, in
// deadline order; a re-arm replaces the earlier one and a disarm cancels.
func TestDeadlinesLatestArmingOnly(t *testing.T) {
	s := actortest.NewSystem(t)
	got := make(chan string, 10)
	spawn := func(name string) *deadlineSlot {
		slot := &deadlineSlot{}
		pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if m, ok := c.Message().(*deadlinePassed); ok && slot.current(m.gen) {
				got <- name
			}
		}))
		slot.pid.Store(pid)
		return slot
	}
	d := startDeadlines(s.Root, func(f *actors.GoroutineFailed) { t.Errorf("deadline goroutine failed: %v", f.Err) })
	defer d.stop()
	a, b, c := spawn("a"), spawn("b"), spawn("c")
	now := time.Now()
	d.arm(a, now.Add(300*time.Millisecond))
	d.arm(b, now.Add(100*time.Millisecond))
	d.arm(c, now.Add(200*time.Millisecond))
	d.arm(b, now.Add(400*time.Millisecond)) // replaces b's first arming
	d.disarm(c)
	require.Equal(t, "a", <-got)
	require.Equal(t, "b", <-got)
	require.GreaterOrEqual(t, time.Since(now), 400*time.Millisecond, "never before its deadline")
	select {
	case n := <-got:
		t.Fatalf("unexpected delivery to %s", n)
	case <-time.After(300 * time.Millisecond):
	}
	// An arming earlier than the one the timer sleeps for wakes it.
	d.arm(a, time.Now().Add(time.Hour))
	at := time.Now()
	d.arm(b, at.Add(50*time.Millisecond))
	require.Equal(t, "b", <-got)
	require.Less(t, time.Since(at), 200*time.Millisecond)
}

// An entry whose natural deadline moved on (the zooid beat since) is moved
// there by the timer itself — nothing is delivered — and delivered once the
// natural deadline really passes.
func TestDeadlinesFollowTheNaturalDeadline(t *testing.T) {
	s := actortest.NewSystem(t)
	got := make(chan time.Time, 10)
	var natural atomic.Int64
	slot := &deadlineSlot{natural: func() int64 { return natural.Load() }}
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*deadlinePassed); ok && slot.current(m.gen) {
			got <- time.Now()
		}
	}))
	slot.pid.Store(pid)
	d := startDeadlines(s.Root, func(f *actors.GoroutineFailed) { t.Errorf("deadline goroutine failed: %v", f.Err) })
	defer d.stop()
	start := time.Now()
	natural.Store(int64(start.Add(100 * time.Millisecond).Sub(clock.Base)))
	d.arm(slot, start.Add(100*time.Millisecond))
	for i := 1; i <= 5; i++ { // "heartbeats" keep pushing the natural deadline
		time.Sleep(50 * time.Millisecond)
		natural.Store(int64(time.Now().Add(100 * time.Millisecond).Sub(clock.Base)))
	}
	final := time.Now().Add(100 * time.Millisecond)
	select {
	case at := <-got:
		t.Fatalf("delivered %s after start while the zooid was still beating", at.Sub(start))
	case at := <-time.After(90 * time.Millisecond):
		_ = at
	}
	at := <-got
	require.False(t, at.Before(final.Add(-2*time.Millisecond)), "not before the natural deadline")
	require.Less(t, at.Sub(final), 200*time.Millisecond)
}
