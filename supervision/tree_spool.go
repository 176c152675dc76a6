package supervision

import (
	"time"

	"github.com/kloros/kloros-observer/actors/emit"
	"github.com/kloros/kloros-observer/actors/housekeeping"
	"github.com/kloros/kloros-observer/actors/observe"
)

// spoolSpecs declares the spool (when enabled) and housekeeping.
func spoolSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	var out []ChildSpec
	if c.Spool.Enabled {
		// The spool writes what the dispatcher publishes, duplicates
		// included, and takes part in its Flush barriers (journald
		// checkpoints its cursor once the spooled events are durable).
		b.Deps.Stream.SubscribeActor("spool", b.PID("spool"), observe.Events, true)
		sc := c.Spool
		sc.RetryInitial, sc.RetryMax, sc.MaxBatch = c.Emitter.RetryInitial, c.Emitter.RetryMax, c.Emitter.MaxBatch
		sc.DrainTimeout = outputDrainTimeout(c)
		out = append(out, b.Leaf("spool", PhaseOutput, c.Supervision.MailboxSize, "writes every raw event to "+c.Spool.Dir,
			emit.NewSpool(sc, b.Deps)))
	}
	out = append(out, b.Leaf("housekeeping", PhaseSupport, 0, "stats line every "+c.StatsInterval.String(),
		housekeeping.NewHousekeeping(c.StatsInterval, time.Now(), b.Deps)))
	return out, nil
}

// outputDrainTimeout bounds how long the emitter and the spool keep retrying
// writes at shutdown. It is 4/5 of the shutdown timeout, so that (when the
// earlier phases were quick) they give up, and log what they could not
// write, before stopTree stops waiting for them.
func outputDrainTimeout(c *Config) time.Duration { return c.ShutdownTimeout * 4 / 5 }
