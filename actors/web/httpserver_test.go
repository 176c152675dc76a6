package web

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHTTPServerMetricsHealthReady(t *testing.T) {
	if _, err := os.Stat("/usr/bin/promtool"); err != nil {
		t.Fatal("this test needs promtool: apt-get install prometheus")
	}
	dir := filepath.Join(t.TempDir(), "intents")
	s := actortest.NewSystem(t)
	deps := actortest.Deps(t, nil)
	deps.Metrics.Core.Events.WithLabelValues("inotify", "promotion_new").Add(3)
	deps.Metrics.Heartbeat.Zooids.WithLabelValues("alive").Set(2)
	deps.Metrics.Scrape.Firing.WithLabelValues("0", "disk_space").Set(1)
	var ready atomic.Bool
	addr := make(chan string, 1)
	pid := s.Root.Spawn(actor.PropsFromProducer(NewHTTPServer(HTTPConfig{Listen: "127.0.0.1:0", IntentsDir: dir,
		Ready: &ready, OnListen: func(a string) { addr <- a }}, deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	base := "http://" + <-addr

	code, body := get(t, base+"/healthz")
	require.Equal(t, 200, code)
	code, body = get(t, base+"/readyz")
	require.Equal(t, 503, code, "not ready before the tree has started")
	require.Contains(t, body, "still starting")
	ready.Store(true)
	code, _ = get(t, base+"/readyz")
	require.Equal(t, 200, code)
	// An intents directory that cannot be written makes the daemon unready.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("a file, not a directory"), 0o600))
	code, body = get(t, base+"/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "intents directory not writable")

	code, body = get(t, base+"/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `kloros_observer_events_total{source="inotify",type="promotion_new"} 3`)
	require.Contains(t, body, `kloros_observer_zooids{state="alive"} 2`)
	require.Contains(t, body, `kloros_observer_check_firing_series{check="disk_space",endpoint="0"} 1`)
	check := exec.Command("/usr/bin/promtool", "check", "metrics")
	check.Stdin = strings.NewReader(body)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool reports no problems")
}

func TestHTTPServerListenFailureStopsOnlyItself(t *testing.T) {
	s := actortest.NewSystem(t)
	addr := make(chan string, 1)
	a := s.Root.Spawn(actor.PropsFromProducer(NewHTTPServer(HTTPConfig{Listen: "127.0.0.1:0", IntentsDir: t.TempDir(),
		OnListen: func(x string) { addr <- x }}, actortest.Deps(t, nil))))
	t.Cleanup(func() { s.Root.StopFuture(a).Wait() })
	taken := <-addr
	// A second server on the same address fails with a config error naming it.
	b := s.Root.Spawn(actor.PropsFromProducer(NewHTTPServer(HTTPConfig{Listen: taken, IntentsDir: t.TempDir()}, actortest.Deps(t, nil))))
	require.Eventually(t, func() bool {
		_, err := s.Root.RequestFuture(b, &actor.Touch{}, 50*time.Millisecond).Result()
		return err != nil
	}, 5*time.Second, 20*time.Millisecond)
	code, _ := get(t, "http://"+taken+"/healthz")
	require.Equal(t, 200, code, "the first server is unaffected")
}
