package chaos

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// failActor asks the chaos build's endpoint to make actor (its id in the
// tree) fail times times.
func (d *daemon) failActor(actor string, times int) {
	d.t.Helper()
	resp, err := httpClient.Post(fmt.Sprintf("http://%s/chaos/fail?actor=%s&times=%d", d.http, actor, times), "", nil)
	require.NoError(d.t, err)
	resp.Body.Close()
	require.Equal(d.t, http.StatusOK, resp.StatusCode, "POST /chaos/fail (a binary built with -tags chaos?)")
}

// TestChaosActorFailureOnDemand makes chosen actors fail in the running
// binary (the chaos build's hook) and checks the supervision tree from
// outside: a failed source is restarted and works again, restarts back off
// (100 ms doubling, ±50%), its siblings keep working, the counters move, and
// an actor failing past its restart intensity escalates to the root, which
// ends the process with exit status 1.
func TestChaosActorFailureOnDemand(t *testing.T) {
	base := t.TempDir()
	state, prom := filepath.Join(base, "state"), filepath.Join(base, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--state-dir", state, "--watch", prom, "--journald-enabled=false", "--scrape-enabled=false",
		"--chembus-enabled=false", "--log-level", "info")
	d.waitReady(30 * time.Second)
	restarts := func(kind string) float64 {
		return d.metric(fmt.Sprintf(`kloros_observer_actor_restarts_total{actor="%s"}`, kind))
	}

	// One failure of the file-watch source: restarted, counted, and it works.
	d.failActor("kloros/sources/fswatch", 1)
	waitFor(t, 10*time.Second, func() string { return "fswatch restarted" }, func() bool { return restarts("fswatch") >= 1 })
	require.GreaterOrEqual(t, d.metric(`kloros_observer_actor_failures_total{actor="fswatch"}`), 1.0)
	for _, n := range []string{"a.json", "b.json", "c.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(prom, n), nil, 0o644))
	}
	intents := filepath.Join(state, "intents")
	waitFor(t, 10*time.Second, func() string { return "an intent from the restarted source" }, func() bool { return len(intentFiles(t, intents)) == 1 })

	// Backoff: three more failures at once take at least 100+200+400 ms
	// (−50% jitter: 350 ms) to be restarted from.
	before := restarts("fswatch")
	start := time.Now()
	d.failActor("kloros/sources/fswatch", 3)
	waitFor(t, 20*time.Second, func() string { return "three more restarts" }, func() bool { return restarts("fswatch") >= before+3 })
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "restarts back off")
	// Siblings kept working throughout: the HTTP actor answered every
	// poll above; the emitter and dispatcher are untouched.
	for _, kind := range []string{"emitter", "dispatcher", "http", "promotion_cluster"} {
		require.Zero(t, restarts(kind), "sibling %s not restarted", kind)
	}
	c, b := d.readyz()
	require.Equal(t, 200, c, b)

	// Escalation: the emitter fails past 5 restarts in 30 s; the root ends
	// the process with exit status 1 (systemd restarts it).
	d.failActor("kloros/emitter", 10)
	require.Equal(t, 1, d.waitExit(60*time.Second), "an escalation at the root exits non-zero")
	logs := d.logs.String()
	require.True(t, strings.Contains(logs, "escalat"), "the escalation is logged")
	verifyIntents(t, intents)
	t.Logf("RESULT supervision: 3 restarts with backoff took %s; escalation at the root exited 1", took.Round(time.Millisecond))
}
