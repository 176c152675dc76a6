package actors

import (
	"log/slog"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/telemetry"
)

// Deps is what every actor constructor receives besides its own config: the
// daemon's logger, its metrics and its clock. Producers capture Deps; they
// have no side effects of their own.
type Deps struct {
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	Clock   clock.Clock
}
