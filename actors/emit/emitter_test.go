package emit

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/archive"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/logbuf"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

func emitterCfg(dir string) EmitterConfig {
	return EmitterConfig{Dir: dir, DedupWindow: time.Hour, Retention: 24 * time.Hour,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxBatch: 64}
}

func intent(reason string) messages.Intent {
	return messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: reason,
		Data: messages.Object{{Key: "unit", Value: "dream.service"}, {Key: "ratio", Value: 0.5}}}
}

func jsonFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	return m
}

func TestEmitterWritesVerifiableIntent(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := filepath.Join(t.TempDir(), "intents")
	deps := actortest.Deps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("GPU out of memory ✓"), ReplyTo: p})
	w := actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.Equal(t, "alert_gpu_oom", w.Type)
	require.NoError(t, intentfile.VerifyFile(w.Path))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_intents_written_total", nil))
}

func TestEmitterDeduplicatesWithinWindow(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := t.TempDir()
	fake := clock.NewFake(time.Now())
	deps := actortest.Deps(t, fake)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	fake.Advance(59 * time.Minute)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	d := actortest.Next[*messages.IntentDropped](t, ch, 5*time.Second)
	require.Equal(t, "duplicate", d.Reason)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("different reason"), ReplyTo: p})
	actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	fake.Advance(2 * time.Minute) // past the hour since the first
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.Len(t, jsonFiles(t, dir), 3)
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_intents_deduplicated_total", nil))
}

func TestEmitterFlushAnsweredAfterEarlierIntentsAreDurable(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := t.TempDir()
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), actortest.Deps(t, nil))))
	p, ch := actortest.Probe(t, s)
	for i := range 200 {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent(strings.Repeat("r", i+1))})
	}
	s.Root.Send(em, &messages.Flush{ID: 7, ReplyTo: p})
	f := actortest.Next[*messages.Flushed](t, ch, 10*time.Second)
	require.Equal(t, uint64(7), f.ID)
	require.Len(t, jsonFiles(t, dir), 200, "every intent before the Flush is on disk when it is answered")
}

func TestEmitterStartRemovesStaleTmpAndArchives(t *testing.T) {
	s := actortest.NewSystem(t)
	state := t.TempDir()
	dir := filepath.Join(state, "intents")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "processed", "stale"), 0o700))
	now := time.Now()
	in := intent("old")
	enc, err := intentfile.Encode(&in, now.Add(-25*time.Hour))
	require.NoError(t, err)
	old := filepath.Join(dir, enc.Name)
	require.NoError(t, os.WriteFile(old, enc.Body, 0o600))
	corrupt := filepath.Join(dir, itoa(now.Add(-25*time.Hour).UnixMilli())+"_alert_gpu_oom_0123abcd.json")
	fresh := filepath.Join(dir, itoa(now.Add(-time.Hour).UnixMilli())+"_alert_gpu_oom_0123abcd.json")
	// The orchestrator's: old and not verifiable, and still never touched.
	theirs := filepath.Join(dir, "processed", "stale", "20261101_000000_stale_1000_alert_gpu_oom_0123abcd.json")
	for _, f := range []string{corrupt, fresh, theirs, filepath.Join(dir, "README.json"), filepath.Join(dir, "1_x_0123abcd.json.tmp")} {
		require.NoError(t, os.WriteFile(f, []byte("{}"), 0o600))
	}
	deps := actortest.Deps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.Flush{ID: 1, ReplyTo: p}) // behind the start-up prune
	actortest.Next[*messages.Flushed](t, ch, 5*time.Second)
	require.NoFileExists(t, old)
	require.NoFileExists(t, corrupt)
	require.FileExists(t, fresh)
	require.FileExists(t, theirs)
	require.FileExists(t, filepath.Join(dir, "README.json"), "names that do not parse are left alone")
	require.NoFileExists(t, filepath.Join(dir, "1_x_0123abcd.json.tmp"))
	// Archived (it verifies), not deleted; the bad one is quarantined with why.
	entries, _, err := archive.New(archive.DefaultConfig(state)).Read(archive.Filter{})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, string(enc.Body), entries[0].Body)
	reason, err := os.ReadFile(filepath.Join(state, "quarantine", filepath.Base(corrupt)+".reason"))
	require.NoError(t, err)
	require.Contains(t, string(reason), "reason: ")
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_pruned_files_total", map[string]string{"kind": "intents"}))
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_pruned_files_total", map[string]string{"kind": "intents_quarantined"}))
}

func TestEmitterRetriesUntilDirectoryUsable(t *testing.T) {
	s := actortest.NewSystem(t)
	base := t.TempDir()
	dir := filepath.Join(base, "intents")
	require.NoError(t, os.WriteFile(dir, []byte("not a directory"), 0o600)) // writes must fail
	deps := actortest.Deps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("held back"), ReplyTo: p})
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", nil) >= 2
	}, 5*time.Second, 5*time.Millisecond)
	select {
	case m := <-ch:
		t.Fatalf("answered before the intent could be written: %#v", m)
	default:
	}
	require.NoError(t, os.Remove(dir)) // the obstacle goes away
	w := actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, intentfile.VerifyFile(w.Path))
	failures := actortest.CounterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", nil)
	require.Equal(t, failures, actortest.CounterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total",
		map[string]string{"reason": "not_a_directory"}), "failures are counted by reason")
}

func TestEmitterRecreatesDeletedDirectory(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := filepath.Join(t.TempDir(), "intents")
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), actortest.Deps(t, nil))))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("one"), ReplyTo: p})
	actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, os.RemoveAll(dir))
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("two"), ReplyTo: p})
	w := actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, intentfile.VerifyFile(w.Path))
}

func TestEmitterDrainsQueueOnStop(t *testing.T) {
	s := actortest.NewSystem(t)
	dir := t.TempDir()
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), actortest.Deps(t, nil))))
	for i := range 500 {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent(itoa(int64(i)))})
	}
	require.NoError(t, s.Root.PoisonFuture(em).Wait())
	files := jsonFiles(t, dir)
	require.Len(t, files, 500)
	for _, f := range files {
		require.NoError(t, intentfile.VerifyFile(f))
	}
}

// breakDir makes dir unusable even for root: a regular file stands where the
// directory should be, so creating it and every write under it fail
// (ENOTDIR). Removing the file lets the emitter recreate the directory.
func breakDir(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.WriteFile(dir, []byte("not a directory"), 0o600))
}

// failingEmitter spawns an emitter on a broken directory and sends it n
// distinct intents, then waits until every one is queued and writes have
// failed at least twice (the writer is in its retry backoff).
func failingEmitter(t *testing.T, s *actor.ActorSystem, cfg EmitterConfig, deps actors.Deps, n int, reply *actor.PID) *actor.PID {
	t.Helper()
	breakDir(t, cfg.Dir)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(cfg, deps)))
	for i := range n {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent("distinct " + itoa(int64(i))), ReplyTo: reply})
	}
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_intents_queued", nil) == float64(n) &&
			actortest.CounterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", nil) >= 2
	}, 20*time.Second, 5*time.Millisecond, "every intent is accepted although none can be written")
	return em
}

func requireTouch(t *testing.T, s *actor.ActorSystem, pid *actor.PID) {
	t.Helper()
	_, err := s.Root.RequestFuture(pid, &actor.Touch{}, time.Second).Result()
	require.NoError(t, err, "the actor answers a Touch within 1 s")
}

func requireNothingYet(t *testing.T, ch chan any) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("answered before anything could be written: %#v", m)
	default:
	}
}

func withLog(deps actors.Deps) (actors.Deps, *logbuf.Buffer) {
	buf := &logbuf.Buffer{}
	deps.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return deps, buf
}

func requireLogged(t *testing.T, logs *logbuf.Buffer, want string) {
	t.Helper()
	require.True(t, strings.Contains(logs.String(), want), "not logged: %s", want)
}

// requireStopsWhileDirectoryFails checks an output actor (emitter or spool)
// whose directory dir is broken and whose writer is stuck: a Flush is queued
// (Touch still answered) but not answered, the actor stops within its drain
// timeout (plus slack), the barrier behind the lost files is never answered,
// and nothing was written beside or in place of the obstacle.
func requireStopsWhileDirectoryFails(t *testing.T, s *actor.ActorSystem, pid, p *actor.PID, ch chan any, dir string, drain time.Duration) {
	t.Helper()
	requireTouch(t, s, pid)
	s.Root.Send(pid, &messages.Flush{ID: 1, ReplyTo: p})
	requireTouch(t, s, pid) // the Flush has been queued behind the files
	requireNothingYet(t, ch)

	stopped := make(chan error, 1)
	go func() { stopped <- s.Root.PoisonFuture(pid).Wait() }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(drain + 10*time.Second):
		t.Fatal("the actor did not stop while its directory was failing")
	}
	requireNothingYet(t, ch) // a barrier behind lost files is never answered

	tmps, err := filepath.Glob(filepath.Join(filepath.Dir(dir), "*.tmp"))
	require.NoError(t, err)
	require.Empty(t, tmps)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "nothing was written in place of the obstacle")
}

// lostAndQueued reads an output's prefix_lost_total{reason} counter (all
// reasons when reason is "") and prefix_queued gauge.
func lostAndQueued(t *testing.T, m *telemetry.Metrics, prefix, reason string) (lost, queued float64) {
	t.Helper()
	var labels map[string]string
	if reason != "" {
		labels = map[string]string{"reason": reason}
	}
	return actortest.CounterValue(t, m, prefix+"_lost_total", labels), actortest.CounterValue(t, m, prefix+"_queued", nil)
}

// A directory that keeps failing used to block Receive on the writer's full
// channel: no Touch (the watchdog would kill the daemon), no Flush, no stop.
func TestEmitterStaysResponsiveAndStopsWhileDirectoryFails(t *testing.T) {
	s := actortest.NewSystem(t)
	cfg := emitterCfg(filepath.Join(t.TempDir(), "intents"))
	cfg.DrainTimeout = 500 * time.Millisecond
	deps, logs := withLog(actortest.Deps(t, nil))
	p, ch := actortest.Probe(t, s)
	em := failingEmitter(t, s, cfg, deps, 5000, nil)
	requireStopsWhileDirectoryFails(t, s, em, p, ch, cfg.Dir, cfg.DrainTimeout)

	lost, queued := lostAndQueued(t, deps.Metrics, "kloros_observer_intents", "shutdown")
	require.Equal(t, []float64{5000, 0}, []float64{lost, queued}, "all lost, none still queued")
	requireLogged(t, logs, `msg="intents not written before the drain timeout; they are lost" actor=emitter count=5000 intent_types="alert_gpu_oom=5000"`)
}

// Everything queued while the directory failed is written once it works
// again: each intent exactly once, in order with the Flush behind them.
func TestEmitterWritesEveryQueuedIntentOnceDirectoryRecovers(t *testing.T) {
	const n = 5000
	s := actortest.NewSystem(t)
	cfg := emitterCfg(filepath.Join(t.TempDir(), "intents"))
	deps := actortest.Deps(t, nil)
	p, ch := actortest.Probe(t, s)
	em := failingEmitter(t, s, cfg, deps, n, p)
	s.Root.Send(em, &messages.Flush{ID: 42, ReplyTo: p})
	requireTouch(t, s, em)
	requireNothingYet(t, ch)

	require.NoError(t, os.Remove(cfg.Dir)) // the obstacle goes away
	written := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for flushed := false; !flushed; {
		select {
		case m := <-ch:
			switch m := m.(type) {
			case *messages.IntentWritten:
				require.False(t, written[m.Path], "written twice: %s", m.Path)
				written[m.Path] = true
			case *messages.Flushed:
				require.Equal(t, uint64(42), m.ID)
				flushed = true
			default:
				t.Fatalf("unexpected %#v", m)
			}
		case <-deadline:
			t.Fatalf("no Flushed within 60 s; %d intents written", len(written))
		}
	}

	// The Flush is answered only once every intent before it is durable.
	require.Len(t, written, n)
	files := jsonFiles(t, cfg.Dir)
	require.Len(t, files, n)
	reasons := map[string]bool{}
	for _, f := range files {
		require.True(t, written[f], "on disk but not reported: %s", f)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, intentfile.Verify(b), f)
		v, err := intentfile.Parse(b)
		require.NoError(t, err)
		for _, kv := range v.(messages.Object) {
			if kv.Key == "reason" {
				r := kv.Value.(string)
				require.False(t, reasons[r], "reason written twice: %s", r)
				reasons[r] = true
			}
		}
	}
	for i := range n {
		require.True(t, reasons["distinct "+itoa(int64(i))], "intent %d lost", i)
	}
	lost, queued := lostAndQueued(t, deps.Metrics, "kloros_observer_intents", "")
	require.Equal(t, []float64{0, 0}, []float64{lost, queued}, "none lost, none still queued")
	requireTouch(t, s, em)
}

// Past MaxQueued waiting intents new ones are refused, answered, counted and
// logged; the rest are still written once the directory works again.
func TestEmitterRefusesPastMaxQueued(t *testing.T) {
	const n, maxQueued = 1000, 100
	s := actortest.NewSystem(t)
	cfg := emitterCfg(filepath.Join(t.TempDir(), "intents"))
	cfg.MaxQueued = maxQueued
	deps, logs := withLog(actortest.Deps(t, nil))
	p, ch := actortest.Probe(t, s)
	breakDir(t, cfg.Dir)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(cfg, deps)))
	for i := range n {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent("distinct " + itoa(int64(i))), ReplyTo: p})
	}
	s.Root.Send(em, &messages.Flush{ID: 9, ReplyTo: p})
	var queued, refused float64
	require.Eventually(t, func() bool {
		refused, queued = lostAndQueued(t, deps.Metrics, "kloros_observer_intents", "queue_full")
		return queued+refused == n
	}, 20*time.Second, 5*time.Millisecond, "each intent is either queued or refused")
	requireTouch(t, s, em)
	// A bound is a bound: the writer's batch in hand and its channel count
	// too (issue 15 #7: max_queued 300 once left 394 queued).
	require.Equal(t, float64(maxQueued), queued)
	require.Equal(t, float64(n-maxQueued), refused)
	for range int(refused) {
		d := actortest.Next[*messages.IntentDropped](t, ch, 5*time.Second)
		require.Equal(t, "queue full", d.Reason)
	}
	requireNothingYet(t, ch)
	requireLogged(t, logs, "refusing new intents")

	require.NoError(t, os.Remove(cfg.Dir))
	actortest.Next[*messages.Flushed](t, ch, 60*time.Second)
	require.Len(t, jsonFiles(t, cfg.Dir), n-int(refused))
	requireLogged(t, logs, `msg="intent queue has room again; intents were refused while it was full" actor=emitter count=`+itoa(int64(refused)))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// An archive that cannot be written leaves every old intent in the queue
// (nothing is removed before it is archived) and counts the failure.
func TestEmitterKeepsOldIntentsWhenTheArchiveFails(t *testing.T) {
	s := actortest.NewSystem(t)
	state := t.TempDir()
	dir := filepath.Join(state, "intents")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	in := intent("old")
	enc, err := intentfile.Encode(&in, time.Now().Add(-25*time.Hour))
	require.NoError(t, err)
	old := filepath.Join(dir, enc.Name)
	require.NoError(t, os.WriteFile(old, enc.Body, 0o600))
	blocker := filepath.Join(state, "archive")
	require.NoError(t, os.WriteFile(blocker, []byte("a file where the archive dir should be"), 0o600))
	deps := actortest.Deps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := actortest.Probe(t, s)
	s.Root.Send(em, &messages.Flush{ID: 1, ReplyTo: p}) // behind the start-up prune
	actortest.Next[*messages.Flushed](t, ch, 5*time.Second)
	require.FileExists(t, old)
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", map[string]string{"reason": "archive"}))
}
