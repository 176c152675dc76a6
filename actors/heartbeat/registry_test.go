package heartbeat

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/logbuf"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// These tests drive the registry, its watchers, the deadline heap and the
// lag probe with a fake clock: time moves only when the test moves it, so
// "a gap at the threshold" is checked to the nanosecond instead of within a
// quarter second of a sleep. (Checkpoint writes and the 200 ms checkpoint
// debounce are real I/O and real timers; the once-a-second sweep is sent by
// hand where a test needs it.)

func regCfg(t *testing.T, bus *actor.PID, state string) Config {
	return Config{Threshold: time.Second, GapRepeat: 0, RecoveryTopic: "CAPABILITY_RESTORED", Retention: 24 * time.Hour,
		MaxZooids: 100, CheckpointEvery: time.Hour, StateFile: filepath.Join(state, "registry.json"), OnKill: "pause", ChemBus: bus}
}

// monitor is a registry on a fake clock, with a probe standing in for the
// ChemBus actor.
type monitor struct {
	t    *testing.T
	s    *actor.ActorSystem
	fk   *clock.Fake
	deps actors.Deps
	bus  *actor.PID
	ch   chan any
	reg  *actor.PID
	inst atomic.Pointer[Registry]
}

// epoch is where the fake clocks of these tests start.
// epoch is after the process started (clock.Base): production never sees a time
// before it, and the deadline heap and lag probe keep instants as offsets
// from it.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newMonitor(t *testing.T, fk *clock.Fake, s *actor.ActorSystem, cfg func(bus *actor.PID) Config) *monitor {
	t.Helper()
	m := &monitor{t: t, s: s, fk: fk, deps: actortest.Deps(t, fk)}
	m.bus, m.ch = actortest.Probe(t, s)
	produce := NewRegistry(cfg(m.bus), m.deps)
	m.reg = s.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		a := produce()
		m.inst.Store(a.(*Registry))
		return a
	}))
	t.Cleanup(func() { _ = s.Root.StopFuture(m.reg).Wait() })
	m.flush()
	return m
}

func startMonitor(t *testing.T, cfg func(bus *actor.PID) Config) *monitor {
	return newMonitor(t, clock.NewFake(epoch), actortest.NewSystem(t), cfg)
}

// beat sends a heartbeat that arrived now (fake time) and waits until the
// registry applied it: time does not move on before it has, as it would
// not in a running process (a heartbeat is applied microseconds after it
// arrives, long before the next step of a test).
func (m *monitor) beat(zooid, niche string, n int64) time.Time {
	m.t.Helper()
	at := m.fk.Now()
	m.s.Root.Send(m.reg, &messages.HeartbeatReceived{Zooid: zooid, Niche: niche, ProcessedCount: n, At: at})
	_, err := m.s.Root.RequestFuture(m.reg, &actor.Touch{}, 5*time.Second).Result()
	require.NoError(m.t, err)
	return at
}

// flush waits until the registry and the bus probe have handled everything
// sent to them so far.
func (m *monitor) flush() {
	m.t.Helper()
	for _, pid := range []*actor.PID{m.reg, m.bus} {
		_, err := m.s.Root.RequestFuture(pid, &actor.Touch{}, 5*time.Second).Result()
		require.NoError(m.t, err)
	}
}

// settle waits until the deadline heap has delivered every deadline due by
// the fake clock's time (watchers run inline when it delivers) and the lag
// probe has ticked within its last period, then flushes.
func (m *monitor) settle() {
	m.t.Helper()
	r := m.inst.Load()
	now := int64(m.fk.Now().Sub(clock.Base))
	d, lag := r.shared.deadlines, r.lag
	select {
	case d.wake <- struct{}{}: // look at the new time even if no timer fired
	default:
	}
	caught := func() bool { return d.idleAt.Load() >= now && lag.last.Load() > now-int64(lag.every) }
	end := time.Now().Add(5 * time.Second)
	for !caught() {
		if time.Now().After(end) {
			m.t.Fatalf("at %s (grid tick %s) the deadline heap is %s behind, the lag probe %s; fake timers armed: %d", m.fk.Now().Sub(epoch), timer.NextTick(epoch, time.Second).Sub(epoch),
				time.Duration(now-d.idleAt.Load()), time.Duration(now-lag.last.Load()), m.fk.Timers())
		}
		runtime.Gosched()
	}
	m.flush()
}

// advance moves the fake clock by d in steps of at most 100 ms, letting the
// monitor catch up after each, as time passes for a running process.
func (m *monitor) advance(d time.Duration) {
	m.t.Helper()
	for d > 0 {
		step := min(d, 100*time.Millisecond)
		m.fk.Advance(step)
		d -= step
		m.settle()
	}
}

// noPublish checks that nothing was published so far.
func (m *monitor) noPublish() {
	m.t.Helper()
	for {
		select {
		case p := <-m.ch:
			if _, ok := p.(*actor.Touch); ok {
				continue // flush's
			}
			m.t.Fatalf("unexpected publish at %s: %#v", m.fk.Now().Sub(epoch), p)
		default:
			return
		}
	}
}

// gap returns the next CAPABILITY_GAP published so far (after settle).
func (m *monitor) gap() *messages.Publish {
	m.t.Helper()
	for {
		select {
		case msg := <-m.ch:
			if p, ok := msg.(*messages.Publish); ok && p.Topic == messages.TopicGap {
				return p
			}
		default:
			m.t.Fatalf("no CAPABILITY_GAP published by %s", m.fk.Now().Sub(epoch))
			return nil
		}
	}
}

func (m *monitor) counter(name string) float64 {
	return actortest.CounterValue(m.t, m.deps.Metrics, name, nil)
}

func TestRegistryOneGapPerEpisodeAtThreshold(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config { return regCfg(t, bus, t.TempDir()) })
	m.beat("zooid_a", "niche_zooid_a", 1)
	m.beat("zooid_b", "niche_zooid_b", 1)
	m.advance(150 * time.Millisecond)
	last := m.beat("zooid_b", "niche_zooid_b", 1) // the double tap
	// zooid_a keeps beating every 200 ms; zooid_b is silent from last on.
	for i := 0; m.fk.Now().Before(last.Add(time.Second - 100*time.Millisecond)); i++ {
		m.advance(100 * time.Millisecond)
		if i%2 == 1 {
			m.beat("zooid_a", "niche_zooid_a", 2)
		}
		m.noPublish()
	}
	m.advance(last.Add(time.Second).Sub(m.fk.Now()) - time.Nanosecond)
	m.noPublish() // a nanosecond before the threshold
	m.advance(time.Nanosecond)
	gap := m.gap()
	f := gap.Signal.Facts
	require.Equal(t, "zooid_b", f["zooid"])
	require.Equal(t, "heartbeat_zooid_b", f["gap_name"])
	require.Equal(t, "heartbeat_missing", f["gap_type"])
	require.Equal(t, "niche_zooid_b", f["niche"])
	require.Equal(t, 1.0, f["missing_seconds"], "at the threshold, exactly")
	require.Equal(t, intentfile.Epoch(last), f["last_seen"])
	require.Equal(t, intentfile.Epoch(last.Add(time.Second)), gap.Signal.TS)
	require.Equal(t, "monitoring", gap.Signal.Ecosystem)
	first := *gap.Signal.IncidentID
	for i := range 25 { // 2.5 s more: no repeat, nothing for the live zooid
		m.advance(100 * time.Millisecond)
		if i%2 == 1 {
			m.beat("zooid_a", "niche_zooid_a", 2)
		}
		m.noPublish()
	}

	// Recovery closes the episode; the next silence is a new episode.
	back := m.beat("zooid_b", "niche_zooid_b", 2)
	m.flush()
	require.Equal(t, 1.0, m.counter("kloros_observer_zooid_recoveries_total"))
	for i := 0; m.fk.Now().Before(back.Add(time.Second)); i++ {
		m.advance(100 * time.Millisecond)
		if i%2 == 1 {
			m.beat("zooid_a", "niche_zooid_a", 3)
		}
	}
	gap2 := m.gap()
	require.Equal(t, "zooid_b", gap2.Signal.Facts["zooid"])
	require.NotEqual(t, first, *gap2.Signal.IncidentID, "a new episode gets a new incident_id")
}

func TestRegistryRepeatRecoveryAndLimits(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config {
		cfg := regCfg(t, bus, t.TempDir())
		cfg.GapRepeat, cfg.PublishRecovery, cfg.MaxZooids = 1500*time.Millisecond, true, 2
		return cfg
	})
	m.beat("a", "n", 10)
	m.beat("a", "n", 3) // processed_count went down: normal for the colony, not a restart
	m.beat("b", "n", 1)
	m.beat("c", "n", 1) // a third zooid: refused
	m.flush()
	require.Equal(t, 1.0, m.counter("kloros_observer_zooids_refused_total"))
	require.Zero(t, m.counter("kloros_observer_zooid_restarts_detected_total"))
	m.advance(time.Second)
	g1, g2 := m.gap(), m.gap()
	require.ElementsMatch(t, []any{"a", "b"}, []any{g1.Signal.Facts["zooid"], g2.Signal.Facts["zooid"]})
	m.noPublish()
	m.flush() // the watchers' episodes are booked
	m.advance(1400 * time.Millisecond)
	m.s.Root.Send(m.reg, sweepTick{})
	m.flush()
	m.noPublish() // 1.4 s into the episode: no repeat yet
	m.advance(200 * time.Millisecond)
	m.s.Root.Send(m.reg, sweepTick{})
	m.flush()
	r := m.gap() // a repeat, same incident
	require.Equal(t, true, r.Signal.Facts["repeat"])
	if r.Signal.Facts["zooid"] == g1.Signal.Facts["zooid"] {
		require.Equal(t, *g1.Signal.IncidentID, *r.Signal.IncidentID)
	} else {
		require.Equal(t, *g2.Signal.IncidentID, *r.Signal.IncidentID)
	}
	m.beat("a", "n", 4)
	m.flush()
	for {
		p := actortest.Next[*messages.Publish](t, m.ch, 5*time.Second)
		if p.Topic == "CAPABILITY_RESTORED" {
			require.Equal(t, "a", p.Signal.Facts["zooid"])
			require.InDelta(t, 1.6, p.Signal.Facts["silent_seconds"], 1e-9, "from the episode's start on the fake clock")
			break
		}
	}
}

func TestRegistryPausedByKill(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config { return regCfg(t, bus, t.TempDir()) })
	m.s.Root.Send(m.reg, &messages.KillReceived{At: m.fk.Now()})
	m.beat("a", "n", 1)
	m.advance(2 * time.Second)
	m.noPublish()
	require.Equal(t, 1.0, m.counter("kloros_observer_gap_publishing_paused"))
	// The gauges follow on the registry's next sweep.
	m.s.Root.Send(m.reg, sweepTick{})
	m.flush()
	require.Equal(t, 1.0, actortest.CounterValue(t, m.deps.Metrics, "kloros_observer_zooids", map[string]string{"state": "silent"}))
}

// After a restart from the checkpoint, a zooid that never beats again is
// reported once after one threshold of grace; an episode announced before
// the restart is not announced again.
func TestRegistryRestoresFromCheckpoint(t *testing.T) {
	state := t.TempDir()
	fk := clock.NewFake(epoch)
	s := actortest.NewSystem(t)
	m := newMonitor(t, fk, s, func(bus *actor.PID) Config { return regCfg(t, bus, state) })
	m.beat("announced", "n", 1)
	m.advance(time.Second)
	g := m.gap()
	require.Equal(t, "announced", g.Signal.Facts["zooid"])
	// The watcher publishes first and books the episode with the registry
	// after (a kill in between repeats a gap rather than losing one): wait
	// for the booking to reach the checkpoint.
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(state, "registry.json"))
		return err == nil && strings.Contains(string(b), *g.Signal.IncidentID)
	}, 5*time.Second, 10*time.Millisecond)
	m.beat("dies_while_down", "n", 1)
	m.flush()
	require.NoError(t, s.Root.StopFuture(m.reg).Wait()) // final checkpoint on stop

	fk.Advance(time.Hour) // down for an hour
	restarted := fk.Now()
	m2 := newMonitor(t, fk, s, func(bus *actor.PID) Config { return regCfg(t, bus, state) })
	m2.advance(time.Second - time.Nanosecond)
	m2.noPublish()
	m2.advance(time.Nanosecond)
	g2 := m2.gap()
	require.Equal(t, "dies_while_down", g2.Signal.Facts["zooid"], "one threshold of grace from the restart")
	require.Equal(t, intentfile.Epoch(restarted.Add(time.Second)), g2.Signal.TS)
	require.InDelta(t, (time.Hour + time.Second).Seconds(), g2.Signal.Facts["missing_seconds"], 1e-6,
		"missing since its last heartbeat before the restart (wall clock)")
	m2.advance(2 * time.Second)
	m2.noPublish() // "announced" is not announced again
	m2.beat("announced", "n", 2)
	m2.flush()
	require.Equal(t, 1.0, m2.counter("kloros_observer_zooid_recoveries_total"), "and its episode can still close")
}

// A watcher that panics is restarted and keeps its zooid's deadline: the gap
// still comes one threshold after the last heartbeat, not after the restart.
func TestWatcherPanicKeepsDeadline(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config {
		cfg := regCfg(t, bus, t.TempDir())
		cfg.Threshold = 2 * time.Second
		return cfg
	})
	last := m.beat("z", "n", 1)
	m.advance(time.Second) // half the threshold passes, then the watcher fails
	watcher := actor.NewPID(m.s.Address(), m.reg.Id+"/watcher:z")
	m.s.Root.Send(watcher, &actors.GoroutineFailed{Err: errors.New("watcher exploded")})
	_, err := m.s.Root.RequestFuture(watcher, &actor.Touch{}, 5*time.Second).Result() // answered once restarted
	require.NoError(t, err)
	m.advance(time.Second - time.Nanosecond)
	m.noPublish()
	m.advance(time.Nanosecond)
	require.Equal(t, intentfile.Epoch(last.Add(2*time.Second)), m.gap().Signal.TS, "the deadline survived the restart")
}

// A zooid that moves to a niche with a shorter threshold is held to it from
// its next heartbeat on (deadlines otherwise only move later, lazily).
func TestRegistryShorterNicheThresholdRearms(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config {
		cfg := regCfg(t, bus, t.TempDir())
		cfg.NicheThresholds = map[string]time.Duration{"slow": 3 * time.Second}
		return cfg
	})
	m.beat("z", "slow", 1)
	m.advance(200 * time.Millisecond)
	last := m.beat("z", "fast", 2)
	m.advance(time.Second)
	g := m.gap()
	require.Equal(t, "fast", g.Signal.Facts["niche"])
	require.Equal(t, intentfile.Epoch(last.Add(time.Second)), g.Signal.TS, "the default 1 s threshold, not the slow niche's 3 s")
}

// When this process did not run for a while (SIGSTOP, a VM pause: here the
// fake clock jumps), the deadlines that passed meanwhile are re-armed, not
// reported: every zooid gets one threshold of grace from the resumption. A
// zooid that beats again within it gets no gap; one that does not is
// reported at the end of the grace.
func TestRegistryStallGivesGrace(t *testing.T) {
	m := startMonitor(t, func(bus *actor.PID) Config { return regCfg(t, bus, t.TempDir()) })
	m.beat("beats_on", "n", 1)
	m.beat("died", "n", 1)
	m.advance(500 * time.Millisecond)
	m.fk.Advance(10 * time.Second) // stopped for 10 s
	resumed := m.fk.Now()
	m.settle()
	m.noPublish()
	require.Equal(t, 1.0, m.counter("kloros_observer_self_stalls_detected_total"))
	m.beat("beats_on", "n", 2) // its heartbeats queued during the stall arrive
	m.advance(time.Second - 100*time.Millisecond)
	m.beat("beats_on", "n", 3)
	m.noPublish()
	m.advance(100 * time.Millisecond)
	g := m.gap()
	require.Equal(t, "died", g.Signal.Facts["zooid"])
	require.Equal(t, intentfile.Epoch(resumed.Add(time.Second)), g.Signal.TS, "one threshold after the resumption")
	m.noPublish()
}

// fakePipeline stands in for the bus watermark: the test says whether
// everything that arrived before a deadline has been applied.
type fakePipeline struct {
	caught  atomic.Bool
	kicks   atomic.Int64
	applied atomic.Uint64
}

func (p *fakePipeline) CaughtUp(time.Time) bool { return p.caught.Load() }
func (p *fakePipeline) Kick()                   { p.kicks.Add(1) }
func (p *fakePipeline) MarkApplied(seq uint64)  { p.applied.Store(seq) }

func pipelined(t *testing.T, p Pipeline) func(bus *actor.PID) Config {
	return func(bus *actor.PID) Config {
		cfg := regCfg(t, bus, t.TempDir())
		cfg.Watermark = p
		return cfg
	}
}

// A heartbeat that arrived before the deadline but is still in our own
// pipeline when the deadline passes does not produce a gap: the watcher has
// the bus read (Kick) and waits until the pipeline caught up. The gap then
// comes one threshold after that heartbeat.
func TestWatcherWaitsForHeartbeatsInOurPipeline(t *testing.T) {
	p := &fakePipeline{}
	p.caught.Store(true)
	m := startMonitor(t, pipelined(t, p))
	m.s.Root.Send(m.reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: m.fk.Now(), Seq: 1})
	m.flush()
	require.Equal(t, uint64(1), p.applied.Load(), "the registry reports what it applied")
	m.advance(900 * time.Millisecond)
	second := m.fk.Now() // a heartbeat arrives now but waits in our pipeline
	p.caught.Store(false)
	m.advance(300 * time.Millisecond) // the first deadline (1 s) passes
	m.noPublish()
	require.Positive(t, p.kicks.Load(), "the watcher asked the bus to read at once")
	m.s.Root.Send(m.reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "n", At: second, Seq: 2})
	m.flush()
	p.caught.Store(true)
	m.advance(second.Add(time.Second).Sub(m.fk.Now()) - time.Nanosecond)
	m.noPublish()
	m.advance(time.Nanosecond)
	g := m.gap() // silent for real: one threshold after the second beat
	require.Equal(t, intentfile.Epoch(second.Add(time.Second)), g.Signal.TS)
	require.Equal(t, intentfile.Epoch(second), g.Signal.Facts["last_seen"])
}

// A pipeline that never catches up (a registry drowning in a flood) holds a
// gap back for PipelineWait at most.
func TestWatcherPipelineWaitIsBounded(t *testing.T) {
	p := &fakePipeline{}
	m := startMonitor(t, pipelined(t, p))
	first := m.beat("z", "n", 1)
	m.advance(time.Second + PipelineWait - 100*time.Millisecond)
	m.noPublish()
	m.advance(100 * time.Millisecond)
	g := m.gap()
	require.Equal(t, intentfile.Epoch(first.Add(time.Second+PipelineWait)), g.Signal.TS)
	require.Equal(t, (time.Second + PipelineWait).Seconds(), g.Signal.Facts["missing_seconds"])
}

// A burst of new names logs at most 20 "zooid first seen" lines a second and
// one line summing up the rest (issue 15 #8: 100,000 lines for 100,000 names).
func TestRegistryFirstSeenLinesRateLimited(t *testing.T) {
	s := actortest.NewSystem(t)
	bus, _ := actortest.Probe(t, s)
	logs := &logbuf.Buffer{}
	deps := actortest.Deps(t, nil)
	deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg := regCfg(t, bus, t.TempDir())
	cfg.MaxZooids = 5000
	reg := s.Root.Spawn(actor.PropsFromProducer(NewRegistry(cfg, deps)))
	t.Cleanup(func() { _ = s.Root.StopFuture(reg).Wait() })
	for i := range 1000 {
		s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "burst_" + strconv.Itoa(i), Niche: "n", ProcessedCount: 1, At: time.Now()})
	}
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "more zooids first seen (individual lines suppressed)")
	}, 5*time.Second, 10*time.Millisecond, "a summary line")
	lines := strings.Count(logs.String(), `msg="zooid first seen"`)
	require.LessOrEqual(t, lines, 40, "at most 20 a second")
	require.Positive(t, lines)
	require.Contains(t, logs.String(), "count=")
}
