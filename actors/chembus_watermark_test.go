package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

// watermarkedRegistry starts a registry (1 s threshold) behind a watermark
// the test drives by hand, in place of a ChemBus actor.
func watermarkedRegistry(t *testing.T) (*actor.ActorSystem, chan any, *BusWatermark, *actor.PID) {
	s := newSystem(t)
	bus, ch := probe(t, s)
	wm := NewBusWatermark()
	cfg := regCfg(t, bus, t.TempDir())
	cfg.Watermark = wm
	return s, ch, wm, spawnReg(t, s, cfg, testDeps(t, nil))
}

// A heartbeat that arrived before the deadline but is still in our own
// pipeline when the deadline passes does not produce a gap: the watcher
// waits for the registry to apply it.
func TestWatcherWaitsForHeartbeatsInOurPipeline(t *testing.T) {
	s, ch, wm, reg := watermarkedRegistry(t)

	wm.parked.Store(true) // the SUB side is idle: only the registry can lag
	first := time.Now()
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: first, Seq: wm.forwarded.Add(1)})
	// A second heartbeat, sent 0.9 s later, is forwarded to the registry
	// but (as if its mailbox were busy) not applied before the deadline.
	time.Sleep(900 * time.Millisecond)
	inFlight := wm.forwarded.Add(1)
	noPublish(t, ch, 600*time.Millisecond) // the first deadline (1 s) passes
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: first.Add(900 * time.Millisecond), Seq: inFlight})
	_, at := gapOf(t, ch, 3*time.Second) // now it is silent for real: one threshold after the second beat
	require.InDelta(t, 1.9, at.Sub(first).Seconds(), 0.25)
}

// A pipeline that never catches up (a registry drowning in a flood) holds a
// gap back for at most pipelineWait.
func TestWatcherPipelineWaitIsBounded(t *testing.T) {
	s, ch, wm, reg := watermarkedRegistry(t)
	wm.parked.Store(true)
	first := time.Now()
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: first, Seq: wm.forwarded.Add(1)})
	wm.forwarded.Add(1) // lost for good
	_, at := gapOf(t, ch, 5*time.Second)
	require.InDelta(t, (time.Second + pipelineWait).Seconds(), at.Sub(first).Seconds(), 0.25)
}

// A SUB side that is coalescing (not parked, last found empty before the
// deadline) is kicked, and the watcher decides once it reports having
// drained past the deadline.
func TestWatcherKicksACoalescingSubscriber(t *testing.T) {
	s, ch, wm, reg := watermarkedRegistry(t)
	first := time.Now()
	wm.emptyAt.Store(int64(first.Sub(monoBase)))
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: first, Seq: wm.forwarded.Add(1)})
	select {
	case <-wm.kick:
	case <-time.After(3 * time.Second):
		t.Fatal("the watcher never asked the SUB side to drain")
	}
	noPublish(t, ch, 100*time.Millisecond)
	wm.emptyAt.Store(int64(time.Since(monoBase))) // drained: nothing was waiting
	_, at := gapOf(t, ch, 3*time.Second)
	require.InDelta(t, 1.1, at.Sub(first).Seconds(), 0.15)
}

func TestArrivalEstimate(t *testing.T) {
	hi := time.Now()
	lo := hi.Add(-50 * time.Millisecond)
	ts := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	require.InDelta(t, 0, arrival(ts(hi.Add(-20*time.Millisecond)), lo, hi).Sub(hi.Add(-20*time.Millisecond)), float64(time.Millisecond),
		"inside the window: the sender's time")
	require.Equal(t, lo, arrival(ts(hi.Add(-time.Hour)), lo, hi), "a sender clock far behind: the window's start")
	require.Equal(t, hi, arrival(ts(hi.Add(time.Hour)), lo, hi), "a sender clock ahead: the window's end")
	require.Equal(t, hi, arrival(0, lo, hi), "no ts")
	require.NotZero(t, arrival(ts(hi.Add(-time.Millisecond)), lo, hi).Sub(hi.Round(0)), "keeps the monotonic reading")
}
