package heartbeat

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/clock"
)

// testHeap is a deadline heap on a fake clock, delivering to test actors.
type testHeap struct {
	t   *testing.T
	s   *actor.ActorSystem
	fk  *clock.Fake
	d   *deadlines
	got chan string
}

func newHeap(t *testing.T) *testHeap {
	h := &testHeap{t: t, s: actortest.NewSystem(t), fk: clock.NewFake(epoch), got: make(chan string, 2000)}
	h.d = startDeadlines(h.s.Root, h.fk, func(f *actors.GoroutineFailed) { t.Errorf("deadline goroutine failed: %v", f.Err) })
	t.Cleanup(h.d.stop)
	return h
}

// slot makes a watcher stand-in named name; natural, if set, is its
// natural deadline (slot.natural).
func (h *testHeap) slot(name string, natural func() int64) *deadlineSlot {
	slot := &deadlineSlot{natural: natural}
	pid := h.s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*deadlinePassed); ok && slot.current(m.gen) {
			h.got <- name
		}
	}, actor.WithDispatcher(watcherDispatcher))) // inline, as watchers
	slot.pid.Store(pid)
	return slot
}

// to moves the fake clock to epoch+at and waits until everything due by
// then was delivered.
func (h *testHeap) to(at time.Duration) {
	h.t.Helper()
	h.fk.Set(epoch.Add(at))
	now := int64(epoch.Add(at).Sub(clock.Base))
	select {
	case h.d.wake <- struct{}{}:
	default:
	}
	require.Eventually(h.t, func() bool { return h.d.idleAt.Load() >= now }, 5*time.Second, time.Millisecond)
}

// delivered returns what was delivered so far, in order.
func (h *testHeap) delivered() []string {
	var out []string
	for {
		select {
		case n := <-h.got:
			out = append(out, n)
		default:
			return out
		}
	}
}

// The shared deadline timer delivers each slot's latest arming once, in
// deadline order and never before it; a re-arm replaces the earlier one and
// a disarm cancels.
func TestDeadlinesLatestArmingOnly(t *testing.T) {
	h := newHeap(t)
	a, b, c := h.slot("a", nil), h.slot("b", nil), h.slot("c", nil)
	h.d.arm(a, epoch.Add(300*time.Millisecond))
	h.d.arm(b, epoch.Add(100*time.Millisecond))
	h.d.arm(c, epoch.Add(200*time.Millisecond))
	h.d.arm(b, epoch.Add(400*time.Millisecond)) // replaces b's first arming
	h.d.disarm(c)
	h.to(300*time.Millisecond - 1)
	require.Empty(t, h.delivered(), "never before its deadline")
	h.to(300 * time.Millisecond)
	require.Equal(t, []string{"a"}, h.delivered())
	h.to(time.Second)
	require.Equal(t, []string{"b"}, h.delivered(), "b once, at its latest arming; c never")

	// An arming earlier than the one the timer sleeps for is kept.
	h.d.arm(a, epoch.Add(time.Hour))
	h.d.arm(b, epoch.Add(time.Second+50*time.Millisecond))
	h.to(time.Second + 50*time.Millisecond)
	require.Equal(t, []string{"b"}, h.delivered())

	// Many at the same instant: all delivered, each once.
	slots := make([]*deadlineSlot, 1000)
	for i := range slots {
		slots[i] = h.slot("many", nil)
		h.d.arm(slots[i], epoch.Add(2*time.Second))
	}
	h.to(2 * time.Second)
	require.Len(t, h.delivered(), 1000)
}

// An entry whose natural deadline moved on (the zooid beat since) is moved
// there by the timer itself — nothing is delivered — and delivered once the
// natural deadline really passes.
func TestDeadlinesFollowTheNaturalDeadline(t *testing.T) {
	h := newHeap(t)
	var natural atomic.Int64
	set := func(at time.Duration) { natural.Store(int64(epoch.Add(at).Sub(clock.Base))) }
	slot := h.slot("z", func() int64 { return natural.Load() })
	set(100 * time.Millisecond)
	h.d.arm(slot, epoch.Add(100*time.Millisecond))
	for at := 50 * time.Millisecond; at <= 250*time.Millisecond; at += 50 * time.Millisecond {
		set(at + 100*time.Millisecond) // "heartbeats" keep pushing the natural deadline
		h.to(at)
	}
	require.Empty(t, h.delivered(), "nothing while the zooid was still beating")
	h.to(350*time.Millisecond - 1)
	require.Empty(t, h.delivered(), "not before the natural deadline")
	h.to(350 * time.Millisecond)
	require.Equal(t, []string{"z"}, h.delivered())
}
