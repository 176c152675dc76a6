package supervision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

// Hooks lets the caller (cmd, tests, the systemd notifier) observe the
// daemon's life. Any may be nil.
type Hooks struct {
	// Ready is called once every actor of the tree has started.
	Ready func(system *actor.ActorSystem, root *actor.PID)
	// Stopping is called when shutdown begins.
	Stopping func()
	// Metrics receives the run's metrics before the tree starts.
	Metrics func(*telemetry.Metrics)
	// Reload delivers each configuration re-read on SIGHUP (systemctl
	// reload). A valid one reloads the rules and names the settings that
	// cannot change live; a refused one (Err) is logged and counted as a
	// failed reload, and the running configuration stays.
	Reload <-chan Reread
}

// Reread is a configuration re-read on SIGHUP, or why it was refused.
type Reread struct {
	Config Config
	Err    error
}

// Run starts the supervision tree described by cfg and blocks until ctx is
// done (clean shutdown, nil) or an escalation reaches the root (the error is
// returned, so the process exits non-zero and systemd restarts it).
//
// Shutdown is ordered: sources are drained and stopped first, then the
// dispatcher, the rules, the outputs (emitter, spool, ChemBus), then the rest,
// each phase bounded by what is left of cfg.ShutdownTimeout. Final statistics
// are logged last.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, hooks Hooks) error {
	started := time.Now()
	metrics := telemetry.NewMetrics()
	metrics.Core.StartTime.Set(float64(started.UnixNano()) / 1e9)
	if hooks.Metrics != nil {
		hooks.Metrics(metrics)
	}
	system := NewSystem(logger)
	defer system.Shutdown() // stops the system's own processes; the tree is stopped by stopTree
	b := &Builder{
		System:    system,
		Config:    &cfg,
		Deps:      actors.Deps{Logger: logger, Metrics: metrics, Clock: clock.Real{}, Stream: observe.New(system.Root)},
		Mailboxes: NewMailboxes(metrics),
		Hooks:     hooks,
		Ready:     &atomic.Bool{},
	}
	stopAsked := make(chan string, 1)
	b.Stop = func(reason string) {
		select {
		case stopAsked <- reason:
		default: // one is pending already
		}
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Name: "build_info",
		Help: "Always 1; labels say which build is running."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(Version(), runtime.Version()).Set(1)
	metrics.Registry.MustRegister(buildInfo, b.Deps.Stream)
	b.Policy = NewPolicy(cfg.Supervision, logger, metrics)
	b.Policy.Stream = b.Deps.Stream
	tree, err := BuildTree(b)
	if err != nil {
		return err
	}

	var fatalOnce sync.Once
	fatal := make(chan error, 1)
	guardian := &rootGuardian{logger: logger, fatal: func(err error) {
		fatalOnce.Do(func() { fatal <- err })
	}}
	// A configuration error an actor finds at start (a port the embedded
	// proxy cannot bind) stops that actor; the daemon cannot work without
	// it, and restarting cannot fix it: end the process with the error, so
	// cmd exits 2 and systemd does not restart it (RestartPreventExitStatus).
	b.Policy.Fatal = guardian.fatal
	root, err := system.Root.SpawnNamed(tree.Props.Configure(actor.WithGuardian(guardian)), RootName)
	if err != nil {
		return fmt.Errorf("spawn supervision tree: %w", err)
	}
	if err := waitStarted(system, b, &tree, 10*time.Second, fatal); err != nil {
		stopTree(system, b, &tree, root, cfg.ShutdownTimeout, logger)
		return err
	}
	b.Ready.Store(true)
	logger.Info("supervision tree started", "actors", countLeaves(&tree), "duration_seconds", time.Since(started).Seconds())
	probes := []*actor.PID{root}
	for _, p := range []string{"emitter", "dispatcher", "zooids"} {
		if hasLeaf(&tree, p) {
			probes = append(probes, b.PID(p))
		}
	}
	sd := newNotifier(system, probes, cfg.Systemd, metrics, started, logger)
	sd.ready()
	if hooks.Ready != nil {
		hooks.Ready(system, root)
	}

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			logger.Info("shutting down", "reason", context.Cause(ctx))
			break wait
		case reason := <-stopAsked:
			logger.Info("shutting down", "reason", reason)
			break wait
		case runErr = <-fatal:
			break wait
		case rr := <-hooks.Reload:
			if rr.Err != nil {
				logger.Error("SIGHUP: configuration refused; the running configuration and rules stay", "err", rr.Err)
				metrics.Rules.Reloaded(false, 0)
				continue
			}
			reloadConfig(system, b, cfg, rr.Config, logger)
			cfg.Rules, cfg.RulesFiles, cfg.LogLevel = rr.Config.Rules, rr.Config.RulesFiles, rr.Config.LogLevel
		}
	}
	b.Ready.Store(false)
	sd.stopping()
	if hooks.Stopping != nil {
		hooks.Stopping()
	}
	stopTree(system, b, &tree, root, cfg.ShutdownTimeout, logger)
	logger.Info("final statistics", telemetry.Summarize(metrics.Registry, started).Attrs()...)
	return runErr
}

// NewSystem makes an actor system that logs through logger. protoactor's own
// default is a coloured handler on stdout; its chatter is lifted to warn unless
// the daemon logs at debug.
func NewSystem(logger *slog.Logger) *actor.ActorSystem {
	lib := logger.With("lib", "protoactor")
	if !logger.Enabled(context.Background(), slog.LevelDebug) {
		lib = slog.New(minLevel{lib.Handler(), slog.LevelWarn})
	}
	return actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return lib }),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Minute),
	))
}

// NewPolicy builds the restart policy every supervisor uses.
func NewPolicy(c SupervisionConfig, logger *slog.Logger, m *telemetry.Metrics) *RestartPolicy {
	return &RestartPolicy{
		MaxRestarts: c.MaxRestarts, Window: c.Window,
		BackoffInitial: c.BackoffInitial, BackoffMax: c.BackoffMax,
		Decider: Decide, Logger: logger, Metrics: m.Core,
	}
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// waitStarted touches every leaf: protoactor runs Started before any user
// message, so an answer means the actor (and the groups above it) started.
func waitStarted(system *actor.ActorSystem, b *Builder, tree *ChildSpec, timeout time.Duration, fatal chan error) error {
	deadline := time.Now().Add(timeout)
	var errs []error
	for p := PhaseInput; p <= PhaseSupport; p++ {
		for _, path := range tree.Leaves("", p) {
			if err := fatalNow(fatal); err != nil {
				return err
			}
			pid := b.PID(path)
			// Groups spawn their children in their own Started; a Touch sent
			// before the child exists would only go to the dead letters.
			for _, ok := system.ProcessRegistry.GetLocal(pid.Id); !ok && time.Now().Before(deadline); _, ok = system.ProcessRegistry.GetLocal(pid.Id) {
				if err := fatalNow(fatal); err != nil {
					return err
				}
				time.Sleep(time.Millisecond)
			}
			for {
				_, err := system.Root.RequestFuture(pid, &actor.Touch{}, 200*time.Millisecond).Result()
				if err == nil {
					break
				}
				if err := fatalNow(fatal); err != nil {
					return err // an actor was stopped for good (a configuration error): say that, not "did not start"
				}
				if time.Now().After(deadline) {
					errs = append(errs, fmt.Errorf("actor %s did not start: %w", path, err))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}

func hasLeaf(t *ChildSpec, path string) bool {
	for p := PhaseInput; p <= PhaseSupport; p++ {
		for _, l := range t.Leaves("", p) {
			if l == path {
				return true
			}
		}
	}
	return false
}

func countLeaves(t *ChildSpec) int {
	n := 0
	for p := PhaseInput; p <= PhaseSupport; p++ {
		n += len(t.Leaves("", p))
	}
	return n
}

// stopTree drains phase by phase, then stops the root (which stops whatever
// is left, dynamic children included).
func stopTree(system *actor.ActorSystem, b *Builder, tree *ChildSpec, root *actor.PID, timeout time.Duration, logger *slog.Logger) {
	deadline := time.Now().Add(timeout)
	for p := PhaseInput; p <= PhaseSupport; p++ {
		leaves := tree.leaves("", p)
		futures := make([]*actor.Future, 0, len(leaves))
		for _, l := range leaves {
			if l.spec.Drains {
				futures = append(futures, system.Root.RequestFuture(b.PID(l.path), &messages.Drain{}, max(time.Until(deadline), time.Millisecond)))
				continue
			}
			futures = append(futures, system.Root.PoisonFuture(b.PID(l.path)))
		}
		for i, f := range futures {
			if err := waitFuture(f, time.Until(deadline)); err != nil {
				logger.Warn("actor did not drain before the shutdown timeout", "actor", leaves[i].path, "phase", p.String(), "err", err)
			}
		}
	}
	if err := system.Root.StopFuture(root).Wait(); err != nil {
		logger.Warn("root did not stop cleanly", "err", err)
	}
}

func waitFuture(f *actor.Future, d time.Duration) error {
	if d <= 0 {
		d = time.Millisecond
	}
	done := make(chan error, 1)
	go func() { done <- f.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("timed out after %s", d.Round(time.Millisecond))
	}
}

// liveSettings are the top-level settings a SIGHUP applies without a
// restart: the rules (through the manager) and the log level (cmd's).
var liveSettings = map[string]bool{"rules": true, "rules_files": true, "log_level": true}

// reloadConfig applies what can change live from a re-read configuration and
// names what cannot. It does not wait for the rules manager: its answer is
// logged when it comes.
func reloadConfig(system *actor.ActorSystem, b *Builder, old, next Config, logger *slog.Logger) {
	var restart []string
	for _, key := range ChangedSettings(old, next) {
		if !liveSettings[key] {
			restart = append(restart, key)
		}
	}
	if len(restart) > 0 {
		logger.Warn("configuration re-read: these settings changed and take effect at the next restart", "settings", strings.Join(restart, ","))
	}
	overrides, err := ruleOverrides(next.Rules)
	if err != nil {
		logger.Error("rules not reloaded", "err", err)
		return
	}
	ReloadRules(system, b.PID("rules"), &messages.ReloadRules{Reason: "SIGHUP", Files: next.RulesFiles, SetFiles: true,
		Overrides: overrides, SetOverrides: true}, logger)
}

// ReloadRules asks the rules manager to reload and logs its answer; it
// returns at once. done, if not nil, gets the answer.
func ReloadRules(system *actor.ActorSystem, manager *actor.PID, req *messages.ReloadRules, logger *slog.Logger) {
	f := system.Root.RequestFuture(manager, req, 30*time.Second)
	go func() {
		res, err := f.Result()
		if err != nil {
			logger.Error("rule reload got no answer", "reason", req.Reason, "err", err)
		}
		_ = res // the manager logs the outcome itself
	}()
}

// ChangedSettings names the top-level settings whose values differ.
func ChangedSettings(a, b Config) []string {
	ya, _ := yaml.Marshal(&a)
	yb, _ := yaml.Marshal(&b)
	var ma, mb map[string]any
	_ = yaml.Unmarshal(ya, &ma)
	_ = yaml.Unmarshal(yb, &mb)
	var out []string
	for k, va := range ma {
		if !reflect.DeepEqual(va, mb[k]) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fatalNow returns a failure already reported on fatal, if any.
func fatalNow(fatal chan error) error {
	select {
	case err := <-fatal:
		return err
	default:
		return nil
	}
}
