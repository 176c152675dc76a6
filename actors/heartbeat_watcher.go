package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/messages"
)

// HeartbeatWatcher keeps one zooid's deadline: protoactor's receive timeout,
// reset by each heartbeat the registry forwards — no periodic scan — so
// silence is noticed the moment the threshold passes. It reports
// *messages.ZooidWentSilent once per silence and *messages.ZooidRecovered
// when a silent zooid beats again; the registry decides what is published.
//
// Its state (last heartbeat, whether an episode is open) lives in the
// registry's zooidState, which the producer closes over, so a restarted
// watcher resumes the same deadline. It owns nothing to release: protoactor
// cancels the receive timeout when the actor stops.
type HeartbeatWatcher struct {
	st     *zooidState
	silent bool
}

// watchBeat tells a watcher its zooid beat at At.
type watchBeat struct{ at time.Time }

// watchRearm gives a watcher a fresh deadline after a suspect expiry (this
// process stalled, or a heartbeat raced the deadline).
type watchRearm struct{ after time.Duration }

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
		ctx.SetReceiveTimeout(atLeastMs(w.st.threshold - time.Since(w.st.lastBeat())))
	case *watchBeat:
		if w.silent {
			w.silent = false
			ctx.Send(ctx.Parent(), &messages.ZooidRecovered{Zooid: w.st.name, At: m.at})
		}
		ctx.SetReceiveTimeout(atLeastMs(w.st.threshold - time.Since(m.at)))
	case *watchRearm:
		w.silent = false
		ctx.SetReceiveTimeout(atLeastMs(m.after))
	case *GoroutineFailed:
		panic(m.Err) // as every actor does; the registry restarts it with its deadline
	case *actor.ReceiveTimeout:
		ctx.CancelReceiveTimeout()
		w.silent = true
		ctx.Send(ctx.Parent(), &messages.ZooidWentSilent{Zooid: w.st.name})
	}
}

func atLeastMs(d time.Duration) time.Duration { return max(d, time.Millisecond) }
