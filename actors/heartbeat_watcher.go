package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/messages"
)

// HeartbeatWatcher keeps one zooid's deadline: protoactor's receive timeout,
// reset by each heartbeat the registry forwards — no periodic scan — so
// silence is noticed the moment the threshold passes.
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
// closes over it, so a restarted watcher resumes the same deadline. It owns
// nothing to release: protoactor cancels the receive timeout on stop.
type HeartbeatWatcher struct {
	st     *zooidState
	silent bool
}

// watchBeat tells a watcher its zooid beat at At.
type watchBeat struct{ at time.Time }

func newHeartbeatWatcher(st *zooidState) actor.Producer {
	return func() actor.Actor { return &HeartbeatWatcher{st: st} }
}

// Receive implements actor.Actor.
func (w *HeartbeatWatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if w.st.announced.Load() {
			w.silent = true // an open episode survives restarts: wait for a beat
			return
		}
		ctx.SetReceiveTimeout(atLeastMs(w.st.thresh() - time.Since(w.st.lastBeat())))
	case *watchBeat:
		if w.silent {
			w.silent = false
			ctx.Send(ctx.Parent(), &messages.ZooidRecovered{Zooid: w.st.name, At: m.at})
		}
		ctx.SetReceiveTimeout(atLeastMs(w.st.thresh() - time.Since(m.at)))
	case *GoroutineFailed:
		panic(m.Err) // as every actor does; the registry restarts it with its deadline
	case *actor.ReceiveTimeout:
		w.expired(ctx)
	}
}

func (w *HeartbeatWatcher) expired(ctx actor.Context) {
	st, sh := w.st, w.st.shared
	now := time.Now()
	if since := now.Sub(st.lastBeat()); since < st.thresh() {
		ctx.SetReceiveTimeout(atLeastMs(st.thresh() - since)) // a heartbeat raced the deadline
		return
	}
	if gap := sh.lag.overdue(now); gap > 0 {
		sh.lag.stalled(now, gap) // the probe has not run since we resumed
	}
	if grace := sh.lag.graceUntil(); now.Before(grace) {
		sh.metrics.Rearmed.Inc()
		ctx.SetReceiveTimeout(atLeastMs(grace.Sub(now)))
		return
	}
	w.silent = true
	id := newIncidentID()
	missing := st.missing(now)
	published := !sh.paused.Load()
	if published {
		st.announced.Store(true)
		sh.publishGap(ctx, st, id, missing, false)
	}
	ctx.Send(ctx.Parent(), &messages.ZooidWentSilent{Zooid: st.name, Missing: missing, IncidentID: id, Published: published})
}

func atLeastMs(d time.Duration) time.Duration { return max(d, time.Millisecond) }
