package bench

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/supervision"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// steppingClock moves 61 s on every reading, so that no event is a repeat
// within the dispatcher's 60 s window: every event reaches its rules.
type steppingClock struct {
	base time.Time
	n    atomic.Int64
}

func (c *steppingClock) Now() time.Time {
	return c.base.Add(time.Duration(c.n.Add(1)) * 61 * time.Second)
}

func newSystem(b *testing.B) *actor.ActorSystem {
	s := supervision.NewSystem(quiet())
	b.Cleanup(s.Shutdown)
	return s
}

func deps(c interface{ Now() time.Time }) actors.Deps {
	return actors.Deps{Logger: quiet(), Metrics: telemetry.NewMetrics(), Clock: c}
}

// waitFlushed sends a Flush to pid and waits for its answer.
func waitFlushed(b *testing.B, s *actor.ActorSystem, pid *actor.PID, id uint64) {
	b.Helper()
	done := make(chan struct{})
	probe := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*messagesFlushed); ok {
			close(done)
		}
	}))
	defer s.Root.Stop(probe)
	s.Root.Send(pid, newFlush(id, probe))
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatal("flush not answered")
	}
}

// contextUntil is a context cancelled when stop closes.
func contextUntil(stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}
