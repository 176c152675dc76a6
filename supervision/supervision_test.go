package supervision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/logbuf"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testBuilder makes a Builder over a fresh system with a fast policy.
func testBuilder(t *testing.T, maxRestarts int) *Builder {
	t.Helper()
	logger := quietLogger()
	m := telemetry.NewMetrics()
	s := NewSystem(logger)
	t.Cleanup(s.Shutdown)
	cfg := DefaultConfig()
	b := &Builder{System: s, Config: &cfg, Deps: actors.Deps{Logger: logger, Metrics: m, Clock: clock.Real{}}, Mailboxes: NewMailboxes(m)}
	b.Policy = &RestartPolicy{MaxRestarts: maxRestarts, Window: 10 * time.Second, BackoffInitial: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, Decider: Decide, Logger: logger, Metrics: m.Core}
	return b
}

type boom struct{}
type ping struct{ n int }

// crasher panics on boom, records each (re)start time, and answers pings.
func crasher(starts chan<- time.Time, pings *atomic.Int64) actor.Producer {
	return func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *actor.Started:
				if starts != nil {
					starts <- time.Now()
				}
			case boom:
				panic(errors.New("boom"))
			case *actors.ConfigError:
				panic(c.Message())
			case ping:
				pings.Add(1)
			}
		})
	}
}

func spawnRoot(t *testing.T, b *Builder, children ...ChildSpec) (*actor.PID, chan error) {
	t.Helper()
	tree := b.Group(RootName, "root", children...)
	fatal := make(chan error, 4)
	g := &rootGuardian{logger: quietLogger(), fatal: func(err error) { fatal <- err }}
	pid, err := b.System.Root.SpawnNamed(tree.Props.Configure(actor.WithGuardian(g)), RootName)
	require.NoError(t, err)
	require.NoError(t, waitStarted(b.System, b, &tree, 5*time.Second, nil))
	return pid, fatal
}

func TestPanickingActorRestartsWithBackoffWhileSiblingWorks(t *testing.T) {
	b := testBuilder(t, 5)
	starts := make(chan time.Time, 100)
	var crashPings, siblingPings atomic.Int64
	spawnRoot(t, b,
		b.Group("g", "", b.Leaf("crasher", PhaseRules, 0, "", crasher(starts, &crashPings)),
			b.Leaf("sibling", PhaseRules, 0, "", crasher(nil, &siblingPings))))
	<-starts
	var gaps []time.Duration
	last := time.Now()
	for i := range 4 {
		b.System.Root.Send(b.PID("g/crasher"), boom{})
		b.System.Root.Send(b.PID("g/sibling"), ping{i})
		select {
		case at := <-starts:
			gaps = append(gaps, at.Sub(last))
			last = at
		case <-time.After(5 * time.Second):
			t.Fatal("crasher was not restarted")
		}
	}
	// Backoff doubles (20, 40, 80, 160 ms, ±50% jitter): the last wait is
	// clearly longer than the first.
	require.Greater(t, gaps[3], gaps[0], "backoff grows: %v", gaps)
	require.GreaterOrEqual(t, gaps[3], 80*time.Millisecond, "%v", gaps)
	require.Eventually(t, func() bool { return siblingPings.Load() == 4 }, 5*time.Second, 5*time.Millisecond, "sibling kept working")
	require.Equal(t, 4.0, gauge(t, b, "kloros_observer_actor_restarts_total", "crasher"))
}

func TestIntensityExceededStopsChildAndEscalatesToRoot(t *testing.T) {
	b := testBuilder(t, 2)
	starts := make(chan time.Time, 100)
	var pings atomic.Int64
	_, fatal := spawnRoot(t, b, b.Group("g", "", b.Leaf("crasher", PhaseRules, 0, "", crasher(starts, &pings))))
	<-starts
	// The group restarts the child twice, then stops it and escalates; the
	// root restarts the group (a fresh child) up to its own limit; in the end
	// the failure reaches the guardian, which reports it as fatal.
	deadline := time.After(20 * time.Second)
	for {
		b.System.Root.Send(b.PID("g/crasher"), boom{})
		select {
		case err := <-fatal:
			var ie *IntensityExceeded
			require.ErrorAs(t, err, &ie)
			require.GreaterOrEqual(t, gauge(t, b, "kloros_observer_actor_escalations_total", "crasher"), 1.0)
			return
		case <-starts:
		case <-deadline:
			t.Fatal("the failure never reached the root")
		}
	}
}

func TestConfigErrorStopsWithoutRestart(t *testing.T) {
	b := testBuilder(t, 5)
	starts := make(chan time.Time, 10)
	var pings atomic.Int64
	spawnRoot(t, b, b.Leaf("bad", PhaseRules, 0, "", crasher(starts, &pings)))
	<-starts
	b.System.Root.Send(b.PID("bad"), &actors.ConfigError{Field: "x", Value: 1, Why: "bad"})
	require.Eventually(t, func() bool {
		_, err := b.System.Root.RequestFuture(b.PID("bad"), &actor.Touch{}, 50*time.Millisecond).Result()
		return err != nil // stopped: nobody answers
	}, 5*time.Second, 10*time.Millisecond)
	select {
	case <-starts:
		t.Fatal("a config error must not be restarted")
	case <-time.After(300 * time.Millisecond):
	}
	require.Equal(t, 0.0, gauge(t, b, "kloros_observer_actor_restarts_total", "bad"))
}

func TestGoroutineFailureReportedRestartsActor(t *testing.T) {
	b := testBuilder(t, 5)
	starts := make(chan time.Time, 10)
	spawnRoot(t, b, b.Leaf("owner", PhaseRules, 0, "", func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				starts <- time.Now()
				root, self := c.ActorSystem().Root, c.Self()
				go func() {
					defer actors.Recover("test reader", func(f *actors.GoroutineFailed) { root.Send(self, f) })
					panic("reader exploded")
				}()
			case *actors.GoroutineFailed:
				panic(m.Err)
			}
		})
	}))
	<-starts
	select {
	case <-starts: // the goroutine's panic restarted its owner
	case <-time.After(5 * time.Second):
		t.Fatal("a goroutine panic must restart its actor")
	}
}

// TestBoundedMailboxUnderFlood: a slow actor flooded with a million messages
// keeps a bounded queue, counts what it dropped, never drops a Flush or a
// PoisonPill, and memory stays bounded.
func TestBoundedMailboxUnderFlood(t *testing.T) {
	b := testBuilder(t, 5)
	release := make(chan struct{})
	var got, flushes atomic.Int64
	spawnRoot(t, b, b.Leaf("slow", PhaseRules, 1000, "", func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case ping:
				<-release
				got.Add(1)
			case *messages.Flush:
				flushes.Add(1)
			}
		})
	}))
	pid := b.PID("slow")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 1_000_000
	for i := range n {
		b.System.Root.Send(pid, ping{i})
	}
	b.System.Root.Send(pid, &messages.Flush{ID: 1})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(64<<20), "queue memory is bounded")
	close(release)
	require.Eventually(t, func() bool { return flushes.Load() == 1 }, 10*time.Second, 5*time.Millisecond)
	dropped := gauge(t, b, "kloros_observer_mailbox_dropped_messages_total", "slow")
	require.Equal(t, float64(n), dropped+float64(got.Load()), "every message is processed or counted as dropped")
	require.Greater(t, dropped, float64(n-1002))
	require.LessOrEqual(t, got.Load(), int64(1001))
	require.NoError(t, b.System.Root.PoisonFuture(pid).Wait(), "poison is never dropped")
}

// TestShutdownDrainsPhaseByPhase: Run stops sources first and drains rules
// and outputs: every message in flight when shutdown starts is handled.
func TestShutdownDrainsPhaseByPhase(t *testing.T) {
	b := testBuilder(t, 5)
	var mu sync.Mutex
	var order []string
	var handled atomic.Int64
	leaf := func(name string, phase Phase, forward string) ChildSpec {
		return b.Leaf(name, phase, 0, "", func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case ping:
					time.Sleep(time.Millisecond) // slow work, so messages are in flight
					if forward != "" {
						c.Send(b.PID(forward), ping{})
					} else {
						handled.Add(1)
					}
				case *actor.Stopping:
					mu.Lock()
					order = append(order, name)
					mu.Unlock()
				}
			})
		})
	}
	root, _ := spawnRoot(t, b,
		leaf("out", PhaseOutput, ""), leaf("rule", PhaseRules, "out"), leaf("src", PhaseInput, "rule"))
	for range 200 {
		b.System.Root.Send(b.PID("src"), ping{})
	}
	tree := b.Group(RootName, "root", leaf("out", PhaseOutput, ""), leaf("rule", PhaseRules, "out"), leaf("src", PhaseInput, "rule"))
	stopTree(b.System, b, &tree, root, 10*time.Second, quietLogger())
	require.Equal(t, int64(200), handled.Load(), "nothing in flight was lost")
	require.Equal(t, []string{"src", "rule", "out"}, order)
}

func TestRunReturnsErrorWhenTreeCannotStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.Rules = nil
	cfg.FSWatch.Enabled, cfg.Journald.Enabled, cfg.Scrape.Enabled, cfg.ChemBus.Enabled, cfg.HTTP.Enabled = false, false, false, false, false
	cfg.Resolve()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, quietLogger(), Hooks{Ready: func(*actor.ActorSystem, *actor.PID) { close(ready) }})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tree never became ready")
	}
	cancel()
	require.NoError(t, <-done, "a clean shutdown returns nil")
}

func gauge(t *testing.T, b *Builder, name, actorLabel string) float64 {
	t.Helper()
	mfs, err := b.Deps.Metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "actor" && l.GetValue() == actorLabel {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRunStopsWhileOutputDirFails: with the intents or the events directory
// unusable (a regular file where it should be, which stops root too) and
// more intents or events queued than the writer's channel holds, the emitter
// or spool still answers the watchdog's Touch and the daemon still shuts
// down within its timeout, logging what was lost.
func TestRunStopsWhileOutputDirFails(t *testing.T) {
	const n = 5000
	for _, tc := range []struct {
		name   string
		dir    func(*Config) string
		send   func(s *actor.ActorSystem, pid *actor.PID, i int)
		queued string // the gauge that counts them
		lost   string // the log line and final statistic that report the loss
		stat   string
	}{
		{"emitter", func(c *Config) string { return c.IntentsDir }, func(s *actor.ActorSystem, pid *actor.PID, i int) {
			s.Root.Send(pid, &messages.EmitIntent{Intent: messages.Intent{Type: "alert_disk_space", Priority: 8,
				Reason: fmt.Sprintf("intent %d", i), Data: messages.Object{}}})
		}, "kloros_observer_intents_queued",
			`msg="intents not written before the drain timeout; they are lost" actor=emitter count=5000 intent_types="alert_disk_space=5000"`,
			"intents_lost=5000"},
		{"spool", func(c *Config) string { return c.Spool.Dir }, func(s *actor.ActorSystem, pid *actor.PID, i int) {
			s.Root.Send(pid, &messages.EventsObserved{Events: []messages.ObservedEvent{{Event: &messages.Event{Source: "journald_units", Type: "gpu_oom", TS: time.Now(), Data: map[string]any{"n": i}}}}})
		}, "kloros_observer_spool_events_queued",
			`msg="events not written before the drain timeout; they are lost" actor=spool count=5000 event_types="gpu_oom=5000"`,
			"spool_events_lost=5000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.StateDir = t.TempDir()
			cfg.Rules = nil
			cfg.FSWatch.Enabled, cfg.Journald.Enabled, cfg.Scrape.Enabled, cfg.ChemBus.Enabled, cfg.HTTP.Enabled = false, false, false, false, false
			cfg.Spool.Enabled = true
			cfg.ShutdownTimeout = time.Second
			cfg.Emitter.RetryInitial, cfg.Emitter.RetryMax = 10*time.Millisecond, 50*time.Millisecond
			cfg.Resolve()
			require.NoError(t, os.WriteFile(tc.dir(&cfg), []byte("not a directory"), 0o600))
			logs := &logbuf.Buffer{}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var metrics *telemetry.Metrics
			var output *actor.PID
			var system *actor.ActorSystem
			ready := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, cfg, logger, Hooks{
					Metrics: func(m *telemetry.Metrics) { metrics = m },
					Ready: func(s *actor.ActorSystem, _ *actor.PID) {
						system, output = s, actor.NewPID(s.Address(), RootName+"/"+tc.name)
						close(ready)
					},
				})
			}()
			select {
			case <-ready:
			case <-time.After(10 * time.Second):
				t.Fatal("tree never became ready")
			}
			for i := range n {
				tc.send(system, output, i)
			}
			require.Eventually(t, func() bool {
				return metricValue(t, metrics, tc.queued) == n
			}, 20*time.Second, 5*time.Millisecond, "every one is accepted although none can be written")
			_, err := system.Root.RequestFuture(output, &actor.Touch{}, time.Second).Result()
			require.NoError(t, err, "the %s answers the watchdog's Touch", tc.name)

			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(cfg.ShutdownTimeout + 10*time.Second):
				t.Fatal("Run did not return while the directory was failing")
			}
			require.True(t, strings.Contains(logs.String(), tc.lost), "the loss is logged with its count and types")
			require.True(t, strings.Contains(logs.String(), tc.stat), "the final statistics count the loss")
			require.False(t, strings.Contains(logs.String(), "actor did not drain before the shutdown timeout"),
				"the output gives up (and says what it lost) before stopTree stops waiting")
		})
	}
}

func metricValue(t *testing.T, m *telemetry.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, mm := range mf.GetMetric() {
				total += mm.GetCounter().GetValue() + mm.GetGauge().GetValue()
			}
		}
	}
	return total
}
