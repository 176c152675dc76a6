package chembus

import (
	"fmt"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
)

// CaughtUp, step by step as the three stages move: the SUB side (parked,
// emptyAt, handed), the decoder (consumed, forwarded) and the registry
// (applied). The watchers' side of it (kick, wait, bounded wait) is tested
// in package heartbeat with a fake clock; the two together end to end in
// TestHeartbeatInCoalescingWindowIsNotAGap.
func TestWatermarkCaughtUp(t *testing.T) {
	var nilWM *Watermark
	require.True(t, nilWM.CaughtUp(time.Now()), "no ChemBus in front of the registry")
	nilWM.Kick()         // harmless
	nilWM.MarkApplied(3) // harmless

	wm := NewWatermark()
	deadline := clock.Base.Add(10 * time.Second)
	at := func(d time.Duration) int64 { return int64(deadline.Add(d).Sub(clock.Base)) }

	wm.emptyAt.Store(at(-time.Millisecond))
	require.False(t, wm.CaughtUp(deadline), "the socket was last found empty before the deadline: a heartbeat may be in it")
	wm.parked.Store(true)
	require.True(t, wm.CaughtUp(deadline), "not connected: nothing can be pending")
	wm.parked.Store(false)
	wm.emptyAt.Store(at(0))
	require.True(t, wm.CaughtUp(deadline), "found empty at the deadline")

	wm.handed.Add(2) // a batch read, not decoded yet
	require.False(t, wm.CaughtUp(deadline))
	wm.forwarded.Add(1) // decoded: one heartbeat forwarded ...
	wm.consumed.Add(2)
	require.False(t, wm.CaughtUp(deadline), "... and not applied yet")
	wm.MarkApplied(1)
	require.True(t, wm.CaughtUp(deadline))

	// A heartbeat the registry's mailbox dropped does not wedge it: a later
	// seq passes it. MarkApplied never goes back.
	wm.forwarded.Add(2)
	wm.MarkApplied(3)
	wm.MarkApplied(2)
	wm.MarkApplied(0)
	require.Equal(t, uint64(3), wm.applied.Load())
	require.True(t, wm.CaughtUp(deadline))
}

// Kick calls the SUB side's waker, when there is one.
func TestWatermarkKick(t *testing.T) {
	wm := NewWatermark()
	wm.Kick() // no SUB side: nothing
	kicks := 0
	wm.setWaker(func() { kicks++ })
	wm.Kick()
	wm.Kick()
	require.Equal(t, 2, kicks)
	wm.setWaker(nil)
	wm.Kick()
	require.Equal(t, 2, kicks)
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
