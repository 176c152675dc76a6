// Package actortest holds what the actor packages' tests share: deps with a
// test logger, a fresh actor system per test, a probe actor and typed waits.
// Only tests import it.
package actortest

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/telemetry"
)

// Deps returns fresh deps; logs go to the test log when -v.
func Deps(t *testing.T, c clock.Clock) actors.Deps {
	t.Helper()
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	if c == nil {
		c = clock.Real{}
	}
	return actors.Deps{Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: telemetry.NewMetrics(), Clock: c}
}

func NewSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	s := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	t.Cleanup(s.Shutdown)
	return s
}

// Probe is an actor that forwards every user message to a channel.
func Probe(t *testing.T, s *actor.ActorSystem) (*actor.PID, chan any) {
	t.Helper()
	ch := make(chan any, 100000)
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		ch <- c.Message()
	}))
	t.Cleanup(func() { s.Root.Stop(pid) })
	return pid, ch
}

// Next waits for the next message of type T on ch.
func Next[T any](t *testing.T, ch chan any, timeout time.Duration) T {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-ch:
			if v, ok := m.(T); ok {
				return v
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %s", zero, timeout)
			return zero
		}
	}
}

// CounterValue sums the counters and gauges named name whose labels match.
func CounterValue(t *testing.T, m *telemetry.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mm := range mf.GetMetric() {
			for _, lp := range mm.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			total += mm.GetCounter().GetValue() + mm.GetGauge().GetValue()
		}
	}
	return total
}
