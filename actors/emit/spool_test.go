package emit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestSpoolWritesEveryEventUniquelyAndFlushes(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := filepath.Join(t.TempDir(), "events")
	old := filepath.Join(dir, itoa(time.Now().Add(-8*24*time.Hour).UnixMilli())+"_inotify_promotion_new_000000.json")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(old, []byte("{}"), 0o600))
	sp := s.Root.Spawn(actor.PropsFromProducer(NewSpool(SpoolConfig{Dir: dir, Retention: 7 * 24 * time.Hour,
		RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond}, actortest.Deps(t, nil))))
	p, ch := actortest.Probe(t, s)
	for i := range 300 { // many within one millisecond: names must not collide
		s.Root.Send(sp, observed(&messages.Event{Source: "inotify", Type: "promotion_new", TS: time.Now(),
			Data: map[string]any{"path": "/p/" + itoa(int64(i)) + ".json", "when": time.Unix(0, 0)}}))
	}
	s.Root.Send(sp, observed(&messages.Event{Source: "journald", Type: "gpu_oom", Data: map[string]any{"unit": "x"}}))
	s.Root.Send(sp, &messages.Flush{ID: 9, ReplyTo: p})
	require.Equal(t, uint64(9), actortest.Next[*messages.Flushed](t, ch, 10*time.Second).ID)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Equal(t, 301, len(files), "every event spooled once; the 8-day-old file pruned")
	require.NoFileExists(t, old)
	var rec struct {
		Source string         `json:"source"`
		Type   string         `json:"type"`
		TS     float64        `json:"ts"`
		Data   map[string]any `json:"data"`
	}
	b, err := os.ReadFile(files[len(files)-1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rec))
	require.NotEmpty(t, rec.Source)
	require.NotZero(t, rec.TS)
}

func spoolCfg(dir string) SpoolConfig {
	return SpoolConfig{Dir: dir, Retention: 7 * 24 * time.Hour,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxBatch: 64}
}

// sendEvents sends n distinct events numbered from 0, half one at a time and
// half in batches of 50, as the dispatcher does.
func sendEvents(s *actor.ActorSystem, sp *actor.PID, n int) {
	ev := func(i int) *messages.Event {
		return &messages.Event{Source: "journald_units", Type: "gpu_oom", TS: time.Now(), Data: map[string]any{"n": i}}
	}
	var batch []*messages.Event
	for i := range n {
		if i%2 == 0 {
			s.Root.Send(sp, observed(ev(i)))
			continue
		}
		if batch = append(batch, ev(i)); len(batch) == 50 {
			s.Root.Send(sp, observed(batch...))
			batch = nil
		}
	}
	if len(batch) > 0 {
		s.Root.Send(sp, observed(batch...))
	}
}

// failingSpool spawns a spool on a broken directory and sends it n distinct
// events. Once writes have failed twice (the writer is in its retry backoff,
// its channel full) the spool must still answer a Touch sent behind the
// events within 1 s — with a blocking hand-off it would be stuck in Receive —
// and by then every event is queued.
func failingSpool(t *testing.T, s *actor.ActorSystem, cfg SpoolConfig, deps actors.Deps, n int) *actor.PID {
	t.Helper()
	breakDir(t, cfg.Dir)
	sp := s.Root.Spawn(actor.PropsFromProducer(NewSpool(cfg, deps)))
	sendEvents(s, sp, n)
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_spool_write_failures_total", nil) >= 2
	}, 20*time.Second, 5*time.Millisecond, "writes fail while the directory is broken")
	requireTouch(t, s, sp)
	require.Equal(t, float64(n), actortest.CounterValue(t, deps.Metrics, "kloros_observer_spool_events_queued", nil),
		"every event is accepted although none can be written")
	return sp
}

// spooledNumbers reads every spooled event in dir and returns how many times
// each event number was found.
func spooledNumbers(t *testing.T, dir string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for _, f := range jsonFiles(t, dir) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var rec struct {
			Data struct {
				N *int `json:"n"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(b, &rec), f)
		require.NotNil(t, rec.Data.N, f)
		seen[*rec.Data.N]++
	}
	return seen
}

// The events directory failing used to block Receive on the writer's full
// channel: no Touch (the watchdog would kill the daemon), no Flush, no stop.
func TestSpoolStaysResponsiveAndStopsWhileDirectoryFails(t *testing.T) {
	s := actortest.NewSystem(t)
	cfg := spoolCfg(filepath.Join(t.TempDir(), "events"))
	cfg.DrainTimeout = 500 * time.Millisecond
	deps, logs := withLog(actortest.Deps(t, nil))
	p, ch := actortest.Probe(t, s)
	sp := failingSpool(t, s, cfg, deps, 5000)
	requireStopsWhileDirectoryFails(t, s, sp, p, ch, cfg.Dir, cfg.DrainTimeout)

	lost, queued := lostAndQueued(t, deps.Metrics, "kloros_observer_spool_events", "shutdown")
	require.Equal(t, []float64{5000, 0}, []float64{lost, queued}, "all lost, none still queued")
	requireLogged(t, logs, `msg="events not written before the drain timeout; they are lost" actor=spool count=5000 event_types="gpu_oom=5000"`)
}

// Everything queued while the directory failed is spooled once it works
// again, each event exactly once, and the Flush behind them is answered only
// when all of them are durable.
func TestSpoolWritesEveryQueuedEventOnceDirectoryRecovers(t *testing.T) {
	const n = 5000
	s := actortest.NewSystem(t)
	cfg := spoolCfg(filepath.Join(t.TempDir(), "events"))
	deps := actortest.Deps(t, nil)
	p, ch := actortest.Probe(t, s)
	sp := failingSpool(t, s, cfg, deps, n)
	s.Root.Send(sp, &messages.Flush{ID: 42, ReplyTo: p})
	requireTouch(t, s, sp)
	requireNothingYet(t, ch)

	require.NoError(t, os.Remove(cfg.Dir)) // the obstacle goes away
	require.Equal(t, uint64(42), actortest.Next[*messages.Flushed](t, ch, 60*time.Second).ID)
	// Read right when the Flush is answered: everything before it is on disk.
	seen := spooledNumbers(t, cfg.Dir)
	require.Len(t, seen, n)
	for i := range n {
		require.Equal(t, 1, seen[i], "event %d spooled once", i)
	}
	lost, queued := lostAndQueued(t, deps.Metrics, "kloros_observer_spool_events", "")
	require.Equal(t, []float64{0, 0}, []float64{lost, queued}, "none lost, none still queued")
	requireTouch(t, s, sp)
}

// Past MaxQueued waiting events new ones are not spooled: counted as lost
// and logged; the rest are still spooled once the directory works again,
// with the Flush behind them answered then.
func TestSpoolRefusesPastMaxQueued(t *testing.T) {
	const n, maxQueued = 1000, 100
	s := actortest.NewSystem(t)
	cfg := spoolCfg(filepath.Join(t.TempDir(), "events"))
	cfg.MaxBatch, cfg.MaxQueued = 8, maxQueued
	deps, logs := withLog(actortest.Deps(t, nil))
	p, ch := actortest.Probe(t, s)
	breakDir(t, cfg.Dir)
	sp := s.Root.Spawn(actor.PropsFromProducer(NewSpool(cfg, deps)))
	sendEvents(s, sp, n)
	s.Root.Send(sp, &messages.Flush{ID: 9, ReplyTo: p})
	var queued, refused float64
	require.Eventually(t, func() bool {
		refused, queued = lostAndQueued(t, deps.Metrics, "kloros_observer_spool_events", "queue_full")
		return queued+refused == n
	}, 20*time.Second, 5*time.Millisecond, "each event is either queued or refused")
	requireTouch(t, s, sp)
	// A bound is a bound: the writer's batch in hand and its channel count
	// too (issue 15 #7: max_queued 300 once left 394 queued).
	require.Equal(t, float64(maxQueued), queued)
	require.Equal(t, float64(n-maxQueued), refused)
	requireNothingYet(t, ch)
	requireLogged(t, logs, "event queue full while the events directory fails; refusing new events")

	require.NoError(t, os.Remove(cfg.Dir))
	require.Equal(t, uint64(9), actortest.Next[*messages.Flushed](t, ch, 60*time.Second).ID)
	seen := spooledNumbers(t, cfg.Dir)
	require.Len(t, seen, n-int(refused))
	for i, c := range seen {
		require.Equal(t, 1, c, "event %d spooled once", i)
	}
	requireLogged(t, logs, `msg="event queue has room again; events were refused while it was full" actor=spool count=`+itoa(int64(refused)))
}

// observed wraps events as the dispatcher publishes them to the spool.
func observed(evs ...*messages.Event) *messages.EventsObserved {
	o := &messages.EventsObserved{At: time.Now()}
	for _, ev := range evs {
		o.Events = append(o.Events, messages.ObservedEvent{Event: ev})
	}
	return o
}
