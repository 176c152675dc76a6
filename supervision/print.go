package supervision

import (
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/supervision/buildinfo"
)

// Version returns the build's version (buildinfo.Short: the ldflags value,
// else the module version, else "devel").
func Version() string { return buildinfo.Short() }

// PrintTree declares the tree for cfg (nothing is started) and draws it.
func PrintTree(w io.Writer, cfg Config, logger *slog.Logger) error {
	metrics := telemetry.NewMetrics()
	system := NewSystem(logger)
	defer system.Shutdown()
	b := &Builder{
		System: system, Config: &cfg,
		Deps:      actors.Deps{Logger: logger, Metrics: metrics, Clock: clock.Real{}, Stream: observe.New(system.Root)},
		Mailboxes: NewMailboxes(metrics),
		Policy:    NewPolicy(cfg.Supervision, logger, metrics),
		Ready:     &atomic.Bool{},
	}
	tree, err := BuildTree(b)
	if err != nil {
		return err
	}
	tree.Print(w, b.Policy)
	return nil
}
