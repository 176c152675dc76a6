package actors

import (
	"log/slog"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/telemetry"
)

// Deps is what every actor constructor receives besides its own config: the
// daemon's logger, its metrics, its clock and the observation stream. Producers capture Deps; they
// have no side effects of their own.
type Deps struct {
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	Clock   clock.Clock
	// Stream is the observation stream producers publish to (nil: nowhere).
	Stream *observe.Stream
}
