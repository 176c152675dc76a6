// Package actortest holds what the actor packages' tests share: deps with a
// test logger, a fresh actor system per test, a probe actor and typed waits.
// Only tests import it.
package actortest

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
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

// Forwarder is a TCP proxy in front of a real peer whose connections can be
// frozen: a frozen connection stops passing bytes either way but stays
// open, as a half-open path does (a peer host gone, a NAT entry dropped, a
// proxy wedged). Connections made after Freeze pass bytes, so a client that
// drops a frozen connection and connects again gets through.
type Forwarder struct {
	Addr  string // host:port to connect to instead of the peer
	mu    sync.Mutex
	gates []chan struct{} // one per connection; closed: passing
}

// NewForwarder listens on a loopback port and forwards to target
// (host:port) until the test ends.
func NewForwarder(t *testing.T, target string) *Forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &Forwarder{Addr: ln.Addr().String()}
	done := make(chan struct{})
	var (
		conns  sync.WaitGroup
		openMu sync.Mutex
		open   []net.Conn
	)
	t.Cleanup(func() {
		close(done)
		ln.Close()
		openMu.Lock()
		for _, c := range open {
			c.Close()
		}
		openMu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			openMu.Lock()
			select {
			case <-done: // the test is over
				openMu.Unlock()
				in.Close()
				out.Close()
				return
			default:
			}
			open = append(open, in, out)
			conns.Add(2)
			openMu.Unlock()
			f.mu.Lock()
			id := len(f.gates)
			g := make(chan struct{})
			close(g)
			f.gates = append(f.gates, g)
			f.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				defer conns.Done()
				defer dst.Close()
				defer src.Close()
				buf := make([]byte, 64*1024)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						select { // frozen: hold the bytes until thawed (or the end)
						case <-f.gate(id):
						case <-done:
							return
						}
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return f
}

func (f *Forwarder) gate(id int) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gates[id]
}

// Connections is how many connections the forwarder accepted.
func (f *Forwarder) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.gates)
}

// Freeze stops every open connection passing bytes; they stay open. New
// connections pass.
func (f *Forwarder) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, g := range f.gates {
		select {
		case <-g:
			f.gates[i] = make(chan struct{})
		default: // frozen already
		}
	}
}

// Thaw lets frozen connections pass bytes again, held ones first.
func (f *Forwarder) Thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.gates {
		select {
		case <-g:
		default:
			close(g)
		}
	}
}
