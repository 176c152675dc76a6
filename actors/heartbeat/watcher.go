package heartbeat

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/messages"
)

// Watcher keeps one zooid's deadline — armed in the registry's
// deadlines timer (one Go timer for all watchers), not a periodic scan — so
// silence is noticed the moment the threshold passes.
//
// Heartbeats do not reach it as messages: the registry stores each one's
// time in the shared zooidState (an atomic), and the watcher re-arms lazily —
// when its timer fires it looks at the last heartbeat and, if the zooid beat
// since, sets the timer for lastBeat+threshold. A zooid beating every 10 s
// with a 30 s threshold thus costs one wake-up per 30 s instead of one
// message per heartbeat. Only a watcher waiting for a silent zooid to come
// back (st.waiting, set before it re-checks the last heartbeat, so a beat
// that races the deadline is seen by one side or the other) is sent a
// *watchBeat.
//
// When the deadline passes it checks that it is real — no heartbeat raced it,
// and this process was not stalled (the shared lag probe; within one
// threshold after a stall the deadline is re-armed instead) — then opens the
// episode: it publishes CAPABILITY_GAP itself (unless governance.kill paused
// publishing) and reports *messages.ZooidWentSilent to the registry for
// bookkeeping. A silent zooid that beats again is reported with
// *messages.ZooidRecovered.
//
// Its state (last heartbeat, niche, threshold, whether an episode is open)
// lives in the registry's zooidState, read through atomics; the producer
// closes over it, so a restarted watcher resumes the same deadline. Stopping
// disarms its deadline.
type Watcher struct {
	st     *zooidState
	silent bool
}

// watchBeat tells a watcher waiting for its silent zooid that it beat at At.
type watchBeat struct{ at time.Time }

func newHeartbeatWatcher(st *zooidState) actor.Producer {
	return func() actor.Actor { return &Watcher{st: st} }
}

// Receive implements actor.Actor.
func (w *Watcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		w.st.slot.pid.Store(ctx.Self())
		if w.st.announced.Load() && w.st.waiting.Load() {
			w.silent = true // an open episode survives restarts: wait for a beat
			return
		}
		w.st.waiting.Store(false)
		w.arm()
	case *watchBeat:
		if w.silent {
			w.silent = false
			w.st.waiting.Store(false)
			ctx.Send(ctx.Parent(), &messages.ZooidRecovered{Zooid: w.st.name, At: m.at})
		}
		w.arm()
	case *actors.GoroutineFailed:
		panic(m.Err) // as every actor does; the registry restarts it with its deadline
	case *deadlinePassed:
		if w.st.slot.current(m.gen) {
			w.expired(ctx)
		}
	case *actor.Stopping:
		w.st.shared.deadlines.disarm(&w.st.slot)
	}
}

func (w *Watcher) expired(ctx actor.Context) {
	st, sh := w.st, w.st.shared
	now := sh.clk.Now()
	if since := now.Sub(st.lastBeat()); since < st.thresh() {
		w.armIn(st.thresh() - since) // a heartbeat raced the deadline
		return
	}
	if gap := sh.lag.overdue(now); gap > 0 {
		sh.lag.stalled(now, gap) // the probe has not run since we resumed
	}
	if grace := sh.lag.graceUntil(); now.Before(grace) {
		sh.metrics.Rearmed.Inc()
		w.armIn(grace.Sub(now))
		return
	}
	// A heartbeat that arrived before the deadline may still be in our own
	// pipeline (the SUB side's coalescing window, the decoder, the
	// registry's mailbox): have it drained and look again shortly. Bounded,
	// so a registry drowning in a flood does not hold every gap back.
	if deadline := st.lastBeat().Add(st.thresh()); !sh.bus.CaughtUp(deadline) && now.Sub(deadline) < PipelineWait {
		sh.bus.Kick()
		w.armIn(time.Millisecond)
		return
	}
	// Announce that we wait for a beat, then look once more: a heartbeat
	// stored after our first look either shows up here or finds waiting set
	// and is sent to us (sequentially consistent atomics on both sides).
	st.waiting.Store(true)
	if since := sh.clk.Now().Sub(st.lastBeat()); since < st.thresh() {
		st.waiting.Store(false)
		w.armIn(st.thresh() - since)
		return
	}
	w.silent = true
	id := newIncidentID()
	missing := st.missing(now)
	// A silence holds the gap back; the registry announces the episode if it
	// is still open when no silence covers it.
	published := !sh.paused.Load() && sh.silences.Match(st.name, st.niche(), now) == nil
	if published {
		st.announced.Store(true)
		sh.publishGap(ctx, st, id, missing, false)
	}
	ctx.Send(ctx.Parent(), &messages.ZooidWentSilent{Zooid: st.name, Missing: missing, IncidentID: id, Published: published})
}

// arm sets the deadline to one threshold after the last heartbeat.
func (w *Watcher) arm() {
	w.st.shared.deadlines.arm(&w.st.slot, w.st.lastBeat().Add(w.st.thresh()))
}

// armIn sets the deadline d from now (at least a millisecond).
func (w *Watcher) armIn(d time.Duration) {
	w.st.shared.deadlines.arm(&w.st.slot, w.st.shared.clk.Now().Add(max(d, time.Millisecond)))
}

// PipelineWait bounds how long a watcher waits for heartbeats still in our
// own pipeline before it reports the silence anyway.
const PipelineWait = time.Second
