package heartbeat

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/logbuf"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

// spawnReg starts a registry and stops it at cleanup, before its state dir
// (made earlier) is removed.
func spawnReg(t *testing.T, s *actor.ActorSystem, cfg Config, deps actors.Deps) *actor.PID {
	pid := s.Root.Spawn(actor.PropsFromProducer(NewRegistry(cfg, deps)))
	t.Cleanup(func() { _ = s.Root.StopFuture(pid).Wait() })
	return pid
}

func regCfg(t *testing.T, bus *actor.PID, state string) Config {
	return Config{Threshold: time.Second, GapRepeat: 0, RecoveryTopic: "CAPABILITY_RESTORED", Retention: 24 * time.Hour,
		MaxZooids: 100, CheckpointEvery: time.Hour, StateFile: filepath.Join(state, "registry.json"), OnKill: "pause", ChemBus: bus}
}

func beat(reg *actor.PID, s *actor.ActorSystem, zooid string, n int64) time.Time {
	at := time.Now()
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: zooid, Niche: "niche_" + zooid, ProcessedCount: n, At: at})
	return at
}

func gapOf(t *testing.T, ch chan any, timeout time.Duration) (*messages.Publish, time.Time) {
	t.Helper()
	for {
		p := actortest.Next[*messages.Publish](t, ch, timeout)
		if p.Topic == messages.TopicGap {
			return p, time.Now()
		}
	}
}

func noPublish(t *testing.T, ch chan any, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected publish %#v", m)
	case <-time.After(d):
	}
}

func TestRegistryOneGapPerEpisodeAtThreshold(t *testing.T) {
	state := t.TempDir()
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	reg := spawnReg(t, s, regCfg(t, bus, state), deps)
	stopA := make(chan struct{})
	go func() { // zooid_a keeps beating every 200 ms (with a Python-style double tap)
		beat(reg, s, "zooid_a", 1)
		beat(reg, s, "zooid_a", 1)
		for i := int64(2); ; i++ {
			select {
			case <-stopA:
				return
			case <-time.After(200 * time.Millisecond):
				beat(reg, s, "zooid_a", i)
			}
		}
	}()
	defer close(stopA)
	beat(reg, s, "zooid_b", 1)
	last := beat(reg, s, "zooid_b", 1) // double tap
	gap, at := gapOf(t, ch, 5*time.Second)
	require.InDelta(t, 1.0, at.Sub(last).Seconds(), 0.25, "at the threshold")
	f := gap.Signal.Facts
	require.Equal(t, "zooid_b", f["zooid"])
	require.Equal(t, "heartbeat_zooid_b", f["gap_name"])
	require.Equal(t, "heartbeat_missing", f["gap_type"])
	require.Equal(t, "niche_zooid_b", f["niche"])
	require.Equal(t, "monitoring", gap.Signal.Ecosystem)
	first := *gap.Signal.IncidentID
	noPublish(t, ch, 2500*time.Millisecond) // no repeat, nothing for the live zooid

	// Recovery closes the episode; the next silence is a new episode.
	beat(reg, s, "zooid_b", 2)
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_zooid_recoveries_total", nil) == 1
	}, 5*time.Second, 10*time.Millisecond)
	gap2, _ := gapOf(t, ch, 5*time.Second)
	require.NotEqual(t, first, *gap2.Signal.IncidentID, "a new episode gets a new incident_id")
}

func TestRegistryRepeatRecoveryRestartsAndLimits(t *testing.T) {
	state := t.TempDir()
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	cfg := regCfg(t, bus, state)
	cfg.GapRepeat, cfg.PublishRecovery, cfg.MaxZooids = 1500*time.Millisecond, true, 2
	reg := spawnReg(t, s, cfg, deps)
	beat(reg, s, "a", 10)
	beat(reg, s, "a", 3) // processed_count went down: a restart of that zooid
	beat(reg, s, "b", 1)
	beat(reg, s, "c", 1) // a third zooid: refused
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_zooids_refused_total", nil) == 1 &&
			actortest.CounterValue(t, deps.Metrics, "kloros_observer_zooid_restarts_detected_total", nil) == 1
	}, 5*time.Second, 10*time.Millisecond)
	g1, _ := gapOf(t, ch, 5*time.Second)
	g2, _ := gapOf(t, ch, 5*time.Second)
	require.ElementsMatch(t, []any{"a", "b"}, []any{g1.Signal.Facts["zooid"], g2.Signal.Facts["zooid"]})
	r, _ := gapOf(t, ch, 5*time.Second) // a repeat, same incident
	require.Equal(t, true, r.Signal.Facts["repeat"])
	if r.Signal.Facts["zooid"] == g1.Signal.Facts["zooid"] {
		require.Equal(t, *g1.Signal.IncidentID, *r.Signal.IncidentID)
	} else {
		require.Equal(t, *g2.Signal.IncidentID, *r.Signal.IncidentID)
	}
	beat(reg, s, "a", 4)
	for {
		p := actortest.Next[*messages.Publish](t, ch, 5*time.Second)
		if p.Topic == "CAPABILITY_RESTORED" {
			require.Equal(t, "a", p.Signal.Facts["zooid"])
			break
		}
	}
}

func TestRegistryPausedByKill(t *testing.T) {
	state := t.TempDir()
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	reg := spawnReg(t, s, regCfg(t, bus, state), deps)
	s.Root.Send(reg, &messages.KillReceived{At: time.Now()})
	beat(reg, s, "a", 1)
	noPublish(t, ch, 2*time.Second)
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_gap_publishing_paused", nil))
	// The gauges follow on the registry's next sweep (every second).
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_zooids", map[string]string{"state": "silent"}) == 1.0
	}, 5*time.Second, 10*time.Millisecond)
}

// After a restart from the checkpoint, a zooid that never beats again is
// reported once after one threshold of grace; an episode announced before
// the restart is not announced again.
func TestRegistryRestoresFromCheckpoint(t *testing.T) {
	state := t.TempDir()
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	reg := s.Root.Spawn(actor.PropsFromProducer(NewRegistry(regCfg(t, bus, state), actortest.Deps(t, nil))))
	beat(reg, s, "announced", 1)
	g, _ := gapOf(t, ch, 5*time.Second)
	require.Equal(t, "announced", g.Signal.Facts["zooid"])
	// The watcher publishes first and books the episode with the registry
	// after (a kill in between repeats a gap rather than losing one): wait
	// for the booking to reach the checkpoint.
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(state, "registry.json"))
		return err == nil && strings.Contains(string(b), *g.Signal.IncidentID)
	}, 5*time.Second, 10*time.Millisecond)
	beat(reg, s, "dies_while_down", 1)
	_, err := s.Root.RequestFuture(reg, &actor.Touch{}, 5*time.Second).Result() // the beat is processed
	require.NoError(t, err)
	require.NoError(t, s.Root.StopFuture(reg).Wait()) // final checkpoint on stop

	bus2, ch2 := actortest.Probe(t, s)
	restarted := time.Now()
	reg2 := spawnReg(t, s, regCfg(t, bus2, state), actortest.Deps(t, nil))
	g2, at := gapOf(t, ch2, 5*time.Second)
	require.Equal(t, "dies_while_down", g2.Signal.Facts["zooid"])
	require.InDelta(t, 1.0, at.Sub(restarted).Seconds(), 0.25, "one threshold of grace from the restart")
	noPublish(t, ch2, 2*time.Second) // "announced" is not announced again
	beat(reg2, s, "announced", 2)    // and its episode can still close
	_ = reg2
}

// A watcher that panics is restarted and keeps its zooid's deadline: the gap
// still comes one threshold after the last heartbeat, not after the restart.
func TestWatcherPanicKeepsDeadline(t *testing.T) {
	state := t.TempDir()
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	cfg := regCfg(t, bus, state)
	cfg.Threshold = 2 * time.Second
	reg := spawnReg(t, s, cfg, actortest.Deps(t, nil))
	last := beat(reg, s, "z", 1)
	_, err := s.Root.RequestFuture(reg, &actor.Touch{}, 5*time.Second).Result() // watcher spawned
	require.NoError(t, err)
	time.Sleep(time.Second) // half the threshold passes, then the watcher fails
	watcher := actor.NewPID(s.Address(), reg.Id+"/watcher:z")
	s.Root.Send(watcher, &actors.GoroutineFailed{Err: errors.New("watcher exploded")})
	_, at := gapOf(t, ch, 5*time.Second)
	require.InDelta(t, 2.0, at.Sub(last).Seconds(), 0.25, "the deadline survived the restart")
}

// A zooid that moves to a niche with a shorter threshold is held to it from
// its next heartbeat on (deadlines otherwise only move later, lazily).
func TestRegistryShorterNicheThresholdRearms(t *testing.T) {
	s := actortest.NewSystem(t)
	bus, ch := actortest.Probe(t, s)
	cfg := regCfg(t, bus, t.TempDir())
	cfg.NicheThresholds = map[string]time.Duration{"slow": 3 * time.Second}
	reg := spawnReg(t, s, cfg, actortest.Deps(t, nil))
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "slow", ProcessedCount: 1, At: time.Now()})
	time.Sleep(200 * time.Millisecond)
	last := time.Now()
	s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: "z", Niche: "fast", ProcessedCount: 2, At: last})
	g, at := gapOf(t, ch, 5*time.Second)
	require.Equal(t, "fast", g.Signal.Facts["niche"])
	require.InDelta(t, 1.0, at.Sub(last).Seconds(), 0.25, "the default 1 s threshold, not the slow niche's 3 s")
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
	reg := spawnReg(t, s, cfg, deps)
	for i := range 1000 {
		beat(reg, s, "burst_"+strconv.Itoa(i), 1)
	}
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "more zooids first seen (individual lines suppressed)")
	}, 5*time.Second, 10*time.Millisecond, "a summary line")
	lines := strings.Count(logs.String(), `msg="zooid first seen"`)
	require.LessOrEqual(t, lines, 40, "at most 20 a second")
	require.Positive(t, lines)
	require.Contains(t, logs.String(), "count=")
}
