package chembus

import (
	"fmt"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/heartbeat"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
)

// watermarkedRegistry starts a registry (1 s threshold) behind a watermark
// the test drives by hand, in place of a ChemBus actor.
func watermarkedRegistry(t *testing.T) (*actor.ActorSystem, chan any, *Watermark, *actor.PID) {
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	wm := NewWatermark()
	cfg := regCfg(t, bus, t.TempDir())
	cfg.Watermark = wm
	return s, ch, wm, spawnReg(t, s, cfg, actortest.Deps(t, nil))
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
	require.InDelta(t, (time.Second + heartbeat.PipelineWait).Seconds(), at.Sub(first).Seconds(), 0.25)
}

// A SUB side that is coalescing (not parked, last found empty before the
// deadline) is kicked, and the watcher decides once it reports having
// drained past the deadline.
func TestWatcherKicksACoalescingSubscriber(t *testing.T) {
	s, ch, wm, reg := watermarkedRegistry(t)
	kicked := make(chan struct{}, 1)
	wm.setWaker(func() {
		select {
		case kicked <- struct{}{}:
		default:
		}
	})
	first := time.Now()
	wm.emptyAt.Store(int64(first.Sub(clock.Base)))
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: first, Seq: wm.forwarded.Add(1)})
	select {
	case <-kicked:
	case <-time.After(3 * time.Second):
		t.Fatal("the watcher never asked the SUB side to drain")
	}
	noPublish(t, ch, 100*time.Millisecond)
	wm.emptyAt.Store(int64(time.Since(clock.Base))) // drained: nothing was waiting
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

// End to end through a real proxy: a heartbeat sent just before its
// zooid's deadline, but held in ZeroMQ's queue by a long coalescing window,
// does not produce a gap — the watcher has the socket drained and sees it.
// The gap comes one threshold after that heartbeat, with its time. (The
// libzmq subscriber does not coalesce: there the same sequence checks that
// it delivers in time and stamps arrival times as well.)
func TestHeartbeatInCoalescingWindowIsNotAGap(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		s := actortest.NewSystem(t)
		gaps, ch := actortest.Probe(t, s)
		wm := NewWatermark()
		deps := actortest.Deps(t, nil)
		cfg := regCfg(t, gaps, t.TempDir())
		cfg.Threshold, cfg.Watermark = 1500*time.Millisecond, wm
		reg := spawnReg(t, s, cfg, deps)
		busCfg := Config{XSub: xsub, XPub: xpub, HeartbeatInterval: time.Hour,
			Zooid: "kloros_observer", Niche: "monitoring", OnKill: "pause", MaxFrameBytes: 4096, Registry: reg,
			ProcessStart: time.Now(), Coalesce: time.Second, Watermark: wm}
		sub(&busCfg)
		bus := s.Root.Spawn(actor.PropsFromProducer(New(busCfg, deps)))
		t.Cleanup(func() { s.Root.StopFuture(bus).Wait() })
		p := newTestPub(t, xsub)
		hb := func(zooid string) time.Time {
			at := time.Now()
			p.send(t, "HEARTBEAT", fmt.Sprintf(`{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":%q,"niche":"n","uptime_s":1,"processed_count":1},"incident_id":null,"trace":null,"ts":%.6f,"schema_version":1}`,
				zooid, float64(at.UnixNano())/1e9))
			return at
		}
		// Past the slow-joiner window: the registry has applied a heartbeat.
		require.Eventually(t, func() bool { hb("warmup"); return wm.applied.Load() > 0 }, 10*time.Second, 50*time.Millisecond)
		time.Sleep(1100 * time.Millisecond) // let any coalescing window end
		n := wm.applied.Load()
		first := hb("z")
		require.Eventually(t, func() bool { return wm.applied.Load() > n }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(time.Until(first.Add(1300 * time.Millisecond)))
		hb("filler") // drained at once; opens a 1 s window
		time.Sleep(50 * time.Millisecond)
		second := hb("z") // 150 ms before the deadline, held until the window ends
		for {
			g, at := gapOf(t, ch, 5*time.Second)
			if g.Signal.Facts["zooid"] != "z" {
				continue
			}
			require.Greater(t, at.Sub(first), 2500*time.Millisecond, "no gap at the first deadline: the second heartbeat was in our queue")
			require.InDelta(t, 1.5, at.Sub(second).Seconds(), 0.3, "one threshold after the second heartbeat")
			require.InDelta(t, float64(second.UnixNano())/1e9, g.Signal.Facts["last_seen"].(float64), 0.05, "stamped with its arrival")
			return
		}
	})
}
