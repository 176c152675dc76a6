package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func fired(t *Timer) bool {
	select {
	case <-(*t).C():
		return true
	default:
		return false
	}
}

// A fake timer fires when the clock passes its time, once, with the clock's
// time; Reset replaces its time and drops a value not yet received; Stop
// keeps it from firing.
func TestFakeTimers(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	a := NewTimer(f, time.Second)
	b := f.NewTimer(2 * time.Second)
	require.Equal(t, 2, f.Timers())
	f.Advance(999 * time.Millisecond)
	require.False(t, fired(&a))
	f.Advance(time.Millisecond)
	require.Equal(t, start.Add(time.Second), <-a.C())
	require.False(t, fired(&a), "once")
	require.Equal(t, 1, f.Timers())

	b.Reset(500 * time.Millisecond) // from now: 1.5 s
	f.Advance(time.Second)
	require.True(t, fired(&b))
	f.Advance(time.Second)
	require.False(t, fired(&b), "Reset replaced the 2 s setting")

	a.Reset(time.Second)
	f.Advance(time.Second) // fires, not received
	a.Reset(time.Second)   // drops it
	require.False(t, fired(&a))
	a.Stop()
	f.Advance(time.Hour)
	require.False(t, fired(&a))
	require.Zero(t, f.Timers())

	a.Reset(0)
	require.True(t, fired(&a), "a zero duration fires at once")

	// ResetAt is absolute: time moving on between reading the clock and
	// arming does not shift it.
	at := f.Now().Add(time.Second)
	f.Advance(300 * time.Millisecond)
	a.ResetAt(at)
	f.Advance(700*time.Millisecond - 1)
	require.False(t, fired(&a))
	f.Advance(1)
	require.Equal(t, at, <-a.C())
	a.ResetAt(at) // passed: at once
	require.True(t, fired(&a))
}

func TestRealTimer(t *testing.T) {
	tm := NewTimer(Real{}, time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("a real timer did not fire")
	}
	tm.Stop()
}
