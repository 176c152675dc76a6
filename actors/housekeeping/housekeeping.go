package housekeeping

import (
	"log/slog"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/actors/timer"
)

// Housekeeping logs the stats line ("observer stats": uptime, events by
// source, deduplicated, intents by type, restarts, ...) every Interval, read
// from the metrics registry. Pruning is done by the emitter and the spool,
// which own their directories.
//
// Receives: its own timer's tick. Releases the timer on Stopping and
// Restarting.
type Housekeeping struct {
	interval time.Duration
	started  time.Time
	deps     actors.Deps
	log      *slog.Logger
	stop     timer.Cancel
}

type statsTick struct{}

// NewHousekeeping returns the housekeeping actor's producer.
func NewHousekeeping(interval time.Duration, started time.Time, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &Housekeeping{interval: interval, started: started, deps: deps} }
}

// Receive implements actor.Actor.
func (h *Housekeeping) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		h.log = h.deps.Logger.With("actor", "housekeeping")
		h.stop = timer.Every(ctx.ActorSystem(), h.interval, h.interval, ctx.Self(), statsTick{})
	case *actor.Stopping, *actor.Restarting:
		if h.stop != nil {
			h.stop()
			h.stop = nil
		}
	case statsTick:
		h.log.Info("observer stats", telemetry.Summarize(h.deps.Metrics.Registry, h.started).Attrs()...)
	default:
		actors.Unhandled(h.log, m)
	}
}
