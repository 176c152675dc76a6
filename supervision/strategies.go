package supervision

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

// RestartPolicy is a one-for-one supervisor strategy with capped, jittered
// exponential backoff and a restart-intensity limit that escalates.
//
// protoactor's own NewExponentialBackoffStrategy is linear with nanosecond
// jitter and never gives up, and its OneForOne silently stops a child past
// its limit. Here, restart n within Window waits
// min(BackoffMax, BackoffInitial·2^(n-1)) with ±50% jitter; the restart that
// would exceed MaxRestarts within Window instead stops the child, logs and
// counts it, and escalates an *IntensityExceeded to the parent supervisor,
// which restarts the whole group (under its own limit); at the root the
// escalation ends the process non-zero, so systemd restarts it.
type RestartPolicy struct {
	MaxRestarts    int
	Window         time.Duration
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	Decider        actor.DeciderFunc
	Logger         *slog.Logger
	Metrics        *telemetry.CoreMetrics
	// Stream receives an *messages.ActorObserved per failure and decision.
	Stream *observe.Stream
	// Fatal, if set, is told of an actor stopped for a configuration error:
	// the daemon ends with it (exit 2) rather than run without that actor.
	Fatal func(error)
}

func (p *RestartPolicy) observe(change, name string, reason any) {
	if p.Stream.Wants(observe.Actors) {
		p.Stream.Publish(&messages.ActorObserved{At: time.Now(), Change: change, Actor: name, Reason: fmt.Sprint(reason)})
	}
}

var _ actor.SupervisorStrategy = (*RestartPolicy)(nil)

// IntensityExceeded is the failure a supervisor escalates when a child
// failed more than MaxRestarts times within Window.
type IntensityExceeded struct {
	Child    string
	Failures int
	Window   time.Duration
	Last     any
}

func (e *IntensityExceeded) Error() string {
	return fmt.Sprintf("actor %s failed %d times within %s (last: %v)", e.Child, e.Failures, e.Window, e.Last)
}

// ActorName is the PID's id without the root prefix: "rules/gpu_oom".
func ActorName(pid *actor.PID) string {
	if pid == nil {
		return ""
	}
	return strings.TrimPrefix(pid.Id, RootName+"/")
}

// Backoff is the delay before restart number n (1-based) within the window.
func (p *RestartPolicy) Backoff(n int) time.Duration {
	d := p.BackoffInitial
	for i := 1; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	if d > p.BackoffMax {
		d = p.BackoffMax
	}
	// ±50% jitter so that siblings failing together do not restart in lockstep.
	j := time.Duration(rand.Int64N(int64(d)+1)) - d/2
	return d + j
}

// HandleFailure implements actor.SupervisorStrategy.
func (p *RestartPolicy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason any, message any) {
	name := ActorName(child)
	kind := KindOf(name)
	p.Metrics.ActorFailures.WithLabelValues(kind).Inc()
	p.observe(messages.ActorFailed, name, reason)
	directive := actor.RestartDirective
	if p.Decider != nil {
		directive = p.Decider(reason)
	}
	switch directive {
	case actor.ResumeDirective:
		p.Logger.Warn("actor failed, resuming", "actor", name, "err", reason)
		sup.ResumeChildren(child)
	case actor.StopDirective:
		p.Logger.Error("actor failed and cannot be restarted, stopping it", "actor", name, "err", reason)
		sup.StopChildren(child)
		p.observe(messages.ActorStopped, name, reason)
		if err, ok := reason.(error); ok && p.Fatal != nil && actors.IsConfigError(reason) {
			p.Fatal(fmt.Errorf("actor %s: %w", name, err))
		}
	case actor.EscalateDirective:
		p.observe(messages.ActorEscalated, name, reason)
		sup.EscalateFailure(reason, message)
	default:
		if rs.NumberOfFailures(p.Window) == 0 {
			rs.Reset() // forget failures outside the window so the slice stays small
		}
		rs.Fail()
		n := rs.NumberOfFailures(p.Window)
		if n > p.MaxRestarts {
			rs.Reset()
			p.Metrics.ActorEscalated.WithLabelValues(kind).Inc()
			p.Logger.Error("actor exceeded its restart intensity, stopping it and escalating",
				"actor", name, "failures", n, "window_seconds", p.Window.Seconds(), "err", reason)
			sup.StopChildren(child)
			p.observe(messages.ActorEscalated, name, reason)
			sup.EscalateFailure(&IntensityExceeded{Child: name, Failures: n, Window: p.Window, Last: reason}, message)
			return
		}
		delay := p.Backoff(n)
		p.Metrics.ActorRestarts.WithLabelValues(kind).Inc()
		p.Logger.Warn("actor failed, restarting after backoff",
			"actor", name, "attempt", n, "delay_seconds", delay.Seconds(), "err", reason)
		time.AfterFunc(delay, func() {
			sup.RestartChildren(child)
			p.observe(messages.ActorRestarted, name, reason)
		})
	}
}

// KindOf reduces an actor name to a bounded label value: dynamic children
// (one per zooid, one per endpoint) are named "<kind>:<id>" and counted by kind.
func KindOf(name string) string {
	last := name[strings.LastIndex(name, "/")+1:]
	if i := strings.IndexByte(last, ':'); i >= 0 {
		last = last[:i]
	}
	return last
}

// rootGuardian receives the root actor's failures. An escalation that
// reaches it cannot be handled inside the process: it stops the tree and
// reports the failure to Run, which returns it so the process exits non-zero.
type rootGuardian struct {
	logger *slog.Logger
	fatal  func(error)
}

func (g *rootGuardian) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason any, _ any) {
	err, ok := reason.(error)
	if !ok {
		err = fmt.Errorf("%v", reason)
	}
	g.logger.Error("failure escalated to the root, stopping the daemon", "actor", ActorName(child), "err", err)
	g.fatal(fmt.Errorf("supervision tree failed: %w", err))
	sup.StopChildren(child)
}
