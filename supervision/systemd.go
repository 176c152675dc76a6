package supervision

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/kloros/kloros-observer/actors/telemetry"
)

// notifier speaks sd_notify to systemd (Type=notify). Outside systemd (no
// NOTIFY_SOCKET) every call is a no-op. It always passes unsetEnvironment
// false: true would unset NOTIFY_SOCKET and silently end watchdog pings.
//
//   - READY=1 once every actor of the tree answered (Run calls ready()).
//   - STATUS= every status interval: events, intents, zooids, restarts.
//   - WATCHDOG=1 every WatchdogSec/2, but only when the root actor and the
//     key actors (emitter, dispatcher, zooid registry) answer a Touch within
//     the probe timeout: a wedged process stops pinging and systemd restarts it.
//   - STOPPING=1 when shutdown begins.
type notifier struct {
	system   *actor.ActorSystem
	probes   []*actor.PID
	timeout  time.Duration
	status   time.Duration
	metrics  *telemetry.Metrics
	started  time.Time
	logger   *slog.Logger
	stop     chan struct{}
	done     chan struct{}
	healthy  bool
	watchdog time.Duration
}

func newNotifier(system *actor.ActorSystem, probes []*actor.PID, cfg SystemdConfig, m *telemetry.Metrics,
	started time.Time, logger *slog.Logger) *notifier {
	return &notifier{system: system, probes: probes, timeout: cfg.WatchdogProbeTimeout, status: cfg.StatusInterval,
		metrics: m, started: started, logger: logger, stop: make(chan struct{}), done: make(chan struct{}), healthy: true}
}

func (n *notifier) send(state string) bool {
	ok, err := daemon.SdNotify(false, state)
	if err != nil {
		n.logger.Warn("sd_notify failed", "state", state, "err", err)
	}
	return ok
}

func (n *notifier) statusLine() string {
	return "STATUS=" + telemetry.Summarize(n.metrics.Registry, n.started).Status()
}

// ready announces readiness and starts the status and watchdog loop.
func (n *notifier) ready() {
	if n.send("READY=1\n" + n.statusLine()) {
		n.logger.Info("told systemd the daemon is ready")
	}
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		n.watchdog = iv / 2
		n.logger.Info("systemd watchdog enabled", "ping_every_seconds", n.watchdog.Seconds())
	}
	go n.loop()
}

func (n *notifier) loop() {
	defer close(n.done)
	status := time.NewTicker(n.status)
	defer status.Stop()
	var ping <-chan time.Time
	if n.watchdog > 0 {
		t := time.NewTicker(n.watchdog)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-n.stop:
			return
		case <-status.C:
			n.send(n.statusLine())
		case <-ping:
			if err := n.probe(); err != nil {
				if n.healthy {
					n.logger.Error("health probe through the actors failed; withholding the systemd watchdog ping", "err", err)
				}
				n.healthy = false
				continue
			}
			if !n.healthy {
				n.logger.Info("health probe answers again; resuming watchdog pings")
			}
			n.healthy = true
			n.send("WATCHDOG=1")
		}
	}
}

// probe touches every probed actor; all must answer within the timeout.
func (n *notifier) probe() error {
	futures := make([]*actor.Future, len(n.probes))
	for i, pid := range n.probes {
		futures[i] = n.system.Root.RequestFuture(pid, &actor.Touch{}, n.timeout)
	}
	for i, f := range futures {
		if _, err := f.Result(); err != nil {
			return &probeError{actor: ActorName(n.probes[i]), err: err}
		}
	}
	return nil
}

type probeError struct {
	actor string
	err   error
}

func (e *probeError) Error() string { return "actor " + e.actor + " did not answer: " + e.err.Error() }

// stopping tells systemd shutdown has begun and ends the loop.
func (n *notifier) stopping() {
	close(n.stop)
	<-n.done
	n.send("STOPPING=1\nSTATUS=stopping: draining sources, rules and outputs")
}

// Wedge is a test hook: the root supervisor blocks on it until Release is
// closed, as a deadlocked actor would. It exists so the watchdog can be
// tested against a real wedge; nothing in the daemon sends it.
type Wedge struct{ Release chan struct{} }
