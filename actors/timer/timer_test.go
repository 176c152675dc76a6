package timer

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
)

func TestEveryAndCancel(t *testing.T) {
	s := actor.NewActorSystem()
	var n atomic.Int64
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			n.Add(1)
		}
	}))
	cancel := Every(s, 0, 20*time.Millisecond, pid, "tick")
	require.Eventually(t, func() bool { return n.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	cancel() // twice is harmless
	s.Root.RequestFuture(pid, &actor.Touch{}, time.Second).Wait()
	after := n.Load()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, after, n.Load(), "nothing is sent after Cancel returns")

	once := Once(s, 10*time.Millisecond, pid, "once")
	require.Eventually(t, func() bool { return n.Load() == after+1 }, 5*time.Second, 5*time.Millisecond)
	once()
	never := Once(s, 50*time.Millisecond, pid, "never")
	never()
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, after+1, n.Load())
}

func TestNextTickIsOnOneGrid(t *testing.T) {
	now := time.Now()
	for _, p := range []time.Duration{250 * time.Millisecond, time.Second, 10 * time.Second} {
		next := NextTick(now, p)
		require.True(t, next.After(now), "strictly after")
		require.LessOrEqual(t, next.Sub(now), p)
		require.Zero(t, next.Sub(origin)%p, "on the grid of %v", p)
		require.Equal(t, next.Add(p), NextTick(next, p), "a tick's next tick is one period on")
	}
	// Periods that divide one another share their ticks.
	sec := NextTick(now, time.Second)
	require.Zero(t, sec.Sub(NextTick(sec.Add(-time.Nanosecond), 250*time.Millisecond)))
	require.Equal(t, now, NextTick(now, 0))
}

// A repeating timer's ticks land on its grid, whatever its delay.
func TestEveryTicksOnTheGrid(t *testing.T) {
	s := actor.NewActorSystem()
	const p = 50 * time.Millisecond
	ticks := make(chan time.Time, 16)
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			select {
			case ticks <- time.Now():
			default:
			}
		}
	}))
	cancel := Every(s, 7*time.Millisecond, p, pid, "tick")
	defer cancel()
	<-ticks // the first, after the delay
	for range 3 {
		at := <-ticks
		late := at.Sub(origin) % p // how far past its grid point it was delivered
		require.Less(t, late, 30*time.Millisecond, "tick at %v is %v past the grid", at, late)
	}
}

// A time before the grid's origin (a fake clock set in the past) still gets
// the next tick of the grid, strictly after it and within one period: Go's
// division truncates toward zero, which once put it up to two periods away.
func TestNextTickBeforeOrigin(t *testing.T) {
	for _, back := range []time.Duration{time.Hour + 250*time.Millisecond, 3 * time.Second, 10 * time.Millisecond} {
		at := origin.Add(-back)
		next := NextTick(at, time.Second)
		require.True(t, next.After(at), "%s", back)
		require.LessOrEqual(t, next.Sub(at), time.Second, "%s", back)
		require.Zero(t, next.Sub(origin)%time.Second, "on the grid")
	}
}
