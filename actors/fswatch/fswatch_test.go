//go:build linux

package fswatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path string
		op   fsnotify.Op
		want string
	}{
		{"/h/out/promotions/a.json", fsnotify.Create, "promotion_new"},
		{"/h/out/promotions/a.json", fsnotify.Write, ""},
		{"/h/out/promotions/a.txt", fsnotify.Create, ""},
		{"/h/.kloros/signals/phase_complete_42", fsnotify.Create, "phase_signal"},
		{"/h/.kloros/signals/other", fsnotify.Create, ""},
		{"/h/out/dream/ready", fsnotify.Chmod, "dream_heartbeat"},
		{"/h/out/dream/ready", fsnotify.Write, "dream_heartbeat"},
		{"/h/out/dream/ready", fsnotify.Remove, ""},
		{"/h/out/other/ready", fsnotify.Write, ""},
	} {
		require.Equal(t, tc.want, Classify(tc.path, tc.op), "%s %s", tc.path, tc.op)
	}
}

func startFS(t *testing.T, paths ...string) (chan any, *actor.PID, *actor.ActorSystem) {
	t.Helper()
	s := actortest.NewSystem(t)
	disp, ch := actortest.Probe(t, s)
	src := s.Root.Spawn(actor.PropsFromProducer(New(Config{Paths: paths, Dispatcher: disp}, actortest.Deps(t, nil))))
	// A Touch answered means Started ran: the watches are in place.
	_, err := s.Root.RequestFuture(src, &actor.Touch{}, 5*time.Second).Result()
	require.NoError(t, err)
	return ch, src, s
}

func nextEvent(t *testing.T, ch chan any) *messages.Event {
	t.Helper()
	return actortest.Next[*messages.Event](t, ch, 5*time.Second)
}

func noEvent(t *testing.T, ch chan any) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected %#v", m)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestFSWatchExistingDirectory(t *testing.T) {
	home := t.TempDir()
	prom := filepath.Join(home, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prom, "old.json"), nil, 0o644)) // before start: not reported
	ch, _, _ := startFS(t, prom)
	require.NoError(t, os.WriteFile(filepath.Join(prom, "notes.txt"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(prom, "a.json"), []byte("{}"), 0o644))
	e := nextEvent(t, ch)
	require.Equal(t, "promotion_new", e.Type)
	require.Equal(t, "inotify", e.Source)
	require.Equal(t, filepath.Join(prom, "a.json"), e.Data["path"])
	// An atomic writer's rename into the directory counts as a creation.
	tmp := filepath.Join(home, "b.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("{}"), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(prom, "b.json")))
	require.Equal(t, filepath.Join(prom, "b.json"), nextEvent(t, ch).Data["path"])
	noEvent(t, ch)
}

func TestFSWatchPathCreatedLaterAndRecreated(t *testing.T) {
	home := t.TempDir()
	prom := filepath.Join(home, "out", "deep", "promotions")
	ch, _, _ := startFS(t, prom)
	// mkdir -p and a file at once: the file may land before the watch does.
	require.NoError(t, os.MkdirAll(prom, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prom, "first.json"), nil, 0o644))
	e := nextEvent(t, ch)
	require.Equal(t, filepath.Join(prom, "first.json"), e.Data["path"])
	require.NoError(t, os.WriteFile(filepath.Join(prom, "second.json"), nil, 0o644))
	require.Equal(t, filepath.Join(prom, "second.json"), nextEvent(t, ch).Data["path"])
	noEvent(t, ch)

	// Deleted and created again: watched again.
	require.NoError(t, os.RemoveAll(filepath.Join(home, "out", "deep")))
	require.NoError(t, os.MkdirAll(prom, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prom, "third.json"), nil, 0o644))
	require.Equal(t, filepath.Join(prom, "third.json"), nextEvent(t, ch).Data["path"])
}

func TestFSWatchReadyFileAndSignals(t *testing.T) {
	home := t.TempDir()
	ready := filepath.Join(home, "out", "dream", "ready")
	signals := filepath.Join(home, ".kloros", "signals")
	require.NoError(t, os.MkdirAll(signals, 0o755))
	ch, _, _ := startFS(t, ready, signals)
	require.NoError(t, os.MkdirAll(filepath.Dir(ready), 0o755))
	require.NoError(t, os.WriteFile(ready, nil, 0o644))
	require.Equal(t, "dream_heartbeat", nextEvent(t, ch).Type)
	for len(ch) > 0 { // create and write may both report
		<-ch
	}
	now := time.Now().Add(time.Second)
	require.NoError(t, os.Chtimes(ready, now, now)) // touch
	require.Equal(t, "dream_heartbeat", nextEvent(t, ch).Type)
	require.NoError(t, os.WriteFile(filepath.Join(signals, "phase_complete_7"), nil, 0o644))
	e := nextEvent(t, ch)
	for e.Type == "dream_heartbeat" {
		e = nextEvent(t, ch)
	}
	require.Equal(t, "phase_signal", e.Type)
}

func TestFSWatchReleasesOnRestart(t *testing.T) {
	home := t.TempDir()
	ch, src, s := startFS(t, home+"/promotions")
	require.NoError(t, os.MkdirAll(home+"/promotions", 0o755))
	// A restart releases the old watcher and goroutine and starts fresh ones.
	s.Root.Send(src, &actors.GoroutineFailed{Err: os.ErrClosed})
	require.Eventually(t, func() bool {
		_, err := s.Root.RequestFuture(src, &actor.Touch{}, time.Second).Result()
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, os.WriteFile(home+"/promotions/x.json", nil, 0o644))
	require.Equal(t, "promotion_new", nextEvent(t, ch).Type)
	noEvent(t, ch)
}
