package actors

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/intentfile"
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
	s := newSystem(t)
	dir := filepath.Join(t.TempDir(), "intents")
	deps := testDeps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("GPU out of memory ✓"), ReplyTo: p})
	w := next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.Equal(t, "alert_gpu_oom", w.Type)
	require.NoError(t, intentfile.VerifyFile(w.Path))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	require.Equal(t, 1.0, counterValue(t, deps.Metrics, "kloros_observer_intents_written_total", nil))
}

func TestEmitterDeduplicatesWithinWindow(t *testing.T) {
	s := newSystem(t)
	dir := t.TempDir()
	fake := clock.NewFake(time.Now())
	deps := testDeps(t, fake)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	next[*messages.IntentWritten](t, ch, 5*time.Second)
	fake.Advance(59 * time.Minute)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	d := next[*messages.IntentDropped](t, ch, 5*time.Second)
	require.Equal(t, "duplicate", d.Reason)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("different reason"), ReplyTo: p})
	next[*messages.IntentWritten](t, ch, 5*time.Second)
	fake.Advance(2 * time.Minute) // past the hour since the first
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("same"), ReplyTo: p})
	next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.Len(t, jsonFiles(t, dir), 3)
	require.Equal(t, 1.0, counterValue(t, deps.Metrics, "kloros_observer_intents_deduplicated_total", nil))
}

func TestEmitterFlushAnsweredAfterEarlierIntentsAreDurable(t *testing.T) {
	s := newSystem(t)
	dir := t.TempDir()
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), testDeps(t, nil))))
	p, ch := probe(t, s)
	for i := range 200 {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent(strings.Repeat("r", i+1))})
	}
	s.Root.Send(em, &messages.Flush{ID: 7, ReplyTo: p})
	f := next[*messages.Flushed](t, ch, 10*time.Second)
	require.Equal(t, uint64(7), f.ID)
	require.Len(t, jsonFiles(t, dir), 200, "every intent before the Flush is on disk when it is answered")
}

func TestEmitterStartRemovesStaleTmpAndPrunes(t *testing.T) {
	s := newSystem(t)
	dir := t.TempDir()
	now := time.Now()
	old := filepath.Join(dir, itoa(now.Add(-25*time.Hour).UnixMilli())+"_alert_gpu_oom_0123abcd.json")
	fresh := filepath.Join(dir, itoa(now.Add(-time.Hour).UnixMilli())+"_alert_gpu_oom_0123abcd.json")
	for _, f := range []string{old, fresh, filepath.Join(dir, "README.json"), filepath.Join(dir, "1_x_0123abcd.json.tmp")} {
		require.NoError(t, os.WriteFile(f, []byte("{}"), 0o600))
	}
	deps := testDeps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := probe(t, s)
	s.Root.Send(em, &messages.Flush{ID: 1, ReplyTo: p}) // behind the start-up prune
	next[*messages.Flushed](t, ch, 5*time.Second)
	require.Eventually(t, func() bool {
		_, errOld := os.Stat(old)
		return os.IsNotExist(errOld)
	}, 5*time.Second, 10*time.Millisecond)
	require.FileExists(t, fresh)
	require.FileExists(t, filepath.Join(dir, "README.json"), "names that do not parse are left alone")
	require.NoFileExists(t, filepath.Join(dir, "1_x_0123abcd.json.tmp"))
}

func TestEmitterRetriesUntilDirectoryUsable(t *testing.T) {
	s := newSystem(t)
	base := t.TempDir()
	dir := filepath.Join(base, "intents")
	require.NoError(t, os.WriteFile(dir, []byte("not a directory"), 0o600)) // writes must fail
	deps := testDeps(t, nil)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), deps)))
	p, ch := probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("held back"), ReplyTo: p})
	require.Eventually(t, func() bool {
		return counterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", nil) >= 2
	}, 5*time.Second, 5*time.Millisecond)
	select {
	case m := <-ch:
		t.Fatalf("answered before the intent could be written: %#v", m)
	default:
	}
	require.NoError(t, os.Remove(dir)) // the obstacle goes away
	w := next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, intentfile.VerifyFile(w.Path))
	failures := counterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total", nil)
	require.Equal(t, failures, counterValue(t, deps.Metrics, "kloros_observer_intent_write_failures_total",
		map[string]string{"reason": "not_a_directory"}), "failures are counted by reason")
}

func TestEmitterRecreatesDeletedDirectory(t *testing.T) {
	s := newSystem(t)
	dir := filepath.Join(t.TempDir(), "intents")
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), testDeps(t, nil))))
	p, ch := probe(t, s)
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("one"), ReplyTo: p})
	next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, os.RemoveAll(dir))
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("two"), ReplyTo: p})
	w := next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.NoError(t, intentfile.VerifyFile(w.Path))
}

func TestEmitterDrainsQueueOnStop(t *testing.T) {
	s := newSystem(t)
	dir := t.TempDir()
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(emitterCfg(dir), testDeps(t, nil))))
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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
