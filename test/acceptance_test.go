package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// observerDaemon runs the observer alone (no journald, scrape, ChemBus, HTTP).
func observerDaemon(t *testing.T, state string, extra ...string) *daemon {
	args := append([]string{"--state-dir", state, "--log-level", "debug",
		"--journald-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false"}, extra...)
	d := startDaemon(t, args...)
	d.waitLog("supervision tree started", 20*time.Second)
	return d
}

func intents(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	return m
}

// pythonVerify checks a file the way the Python orchestrator does.
func pythonVerify(t *testing.T, path string) {
	t.Helper()
	requireTool(t, "/usr/bin/python3", "apt-get install python3")
	script := `
import hashlib, json, sys
raw = open(sys.argv[1], "rb").read()
obj = json.loads(raw)
sha = obj.pop("sha256")
assert hashlib.sha256(json.dumps(obj, indent=2).encode()).hexdigest() == sha, "sha256 mismatch"
assert list(obj) == ["intent_type", "priority", "reason", "data", "generated_at", "emitted_at", "emitted_by"], list(obj)
print(obj["intent_type"])
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// TestIntegrationPromotionClusterEndToEnd: three promotion files → exactly one
// trigger_phase_promotion_cluster intent that verifies (Python and intentctl);
// SIGTERM → exit 0 with final statistics.
func TestIntegrationPromotionClusterEndToEnd(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".kloros")
	prom := filepath.Join(home, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	d := observerDaemon(t, state, "--fswatch-path", prom, "--spool-events")
	for _, n := range []string{"a.json", "b.json", "c.json", "d.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(prom, n), []byte("{}"), 0o644))
	}
	dir := filepath.Join(state, "intents")
	require.Eventually(t, func() bool { return len(intents(t, dir)) == 1 }, 10*time.Second, 20*time.Millisecond)
	files := intents(t, dir)
	require.Contains(t, filepath.Base(files[0]), "_trigger_phase_promotion_cluster_")
	pythonVerify(t, files[0])
	out, err := exec.Command(binary(t, "intentctl"), "verify", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(files[0])
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))
	logs := d.logs.String()
	require.Contains(t, logs, "final statistics")
	require.Contains(t, logs, "trigger_phase_promotion_cluster=1")
	require.Len(t, intents(t, dir), 1, "exactly one intent")
	spooled, _ := filepath.Glob(filepath.Join(state, "events", "*_inotify_promotion_new_*.json"))
	require.Len(t, spooled, 3, "every raw event spooled")
}

// TestIntegrationWatchDirCreatedAfterStart: a watched directory that does
// not exist at start is picked up when it appears (mkdir -p).
func TestIntegrationWatchDirCreatedAfterStart(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".kloros")
	prom := filepath.Join(home, "later", "out", "promotions")
	d := observerDaemon(t, state, "--fswatch-path", prom)
	require.NoError(t, os.MkdirAll(prom, 0o755))
	for _, n := range []string{"a.json", "b.json", "c.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(prom, n), []byte("{}"), 0o644))
	}
	dir := filepath.Join(state, "intents")
	require.Eventually(t, func() bool { return len(intents(t, dir)) == 1 }, 10*time.Second, 20*time.Millisecond,
		"logs:\n%s", d.logs.String())
	pythonVerify(t, intents(t, dir)[0])
}

// TestIntegrationBadConfigExitsTwo: bad input is refused at start with the
// field and the value named, exit status 2.
func TestIntegrationBadConfigExitsTwo(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "observer.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("emitter:\n  retention: forever\n"), 0o600))
	out, err := exec.Command(binary(t, "kloros-observer"), "--config", cfg).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "forever")
	out, err = exec.Command(binary(t, "kloros-observer"), "--heartbeat-threshold", "soon").CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.True(t, strings.Contains(string(out), "heartbeat-threshold") && strings.Contains(string(out), "soon"), "%s", out)
}

// TestIntegrationIntentctlVerifiesPythonIntents: files written by the
// colony's own Python emitter verify under the built intentctl; a tampered
// one fails naming the file and the reason.
func TestIntegrationIntentctlVerifiesPythonIntents(t *testing.T) {
	fixtures := filepath.Join(repoRoot(), "actors", "intentfile", "testdata", "python-intents")
	out, err := exec.Command(binary(t, "intentctl"), "verify", fixtures).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "5 file(s), 0 bad")

	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(fixtures, "1795352857554_alert_gpu_oom_2a464a31.json"))
	require.NoError(t, err)
	bad := filepath.Join(dir, "1795352857554_alert_gpu_oom_2a464a31.json")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), `"priority": 9`, `"priority": 3`, 1)), 0o600))
	out, err = exec.Command(binary(t, "intentctl"), "verify", dir).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 1, ee.ExitCode())
	require.Contains(t, string(out), "BAD "+bad+": sha256 mismatch")
}

// TestIntegrationMetricsEndpoint: the running daemon's /metrics passes
// promtool check metrics; /healthz and /readyz answer.
func TestIntegrationMetricsEndpoint(t *testing.T) {
	requireTool(t, "/usr/bin/promtool", "apt-get install prometheus")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	home := t.TempDir()
	prom := filepath.Join(home, "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	d := startDaemon(t, "--state-dir", filepath.Join(home, ".kloros"), "--fswatch-path", prom, "--http-listen", addr,
		"--chembus-proxy", "embedded", "--chem-xsub", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)),
		"--chem-xpub", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)),
		"--journald-enabled=false", "--scrape-enabled=false")
	d.waitLog("supervision tree started", 20*time.Second)
	require.NoError(t, os.WriteFile(filepath.Join(prom, "a.json"), nil, 0o644))
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `kloros_observer_events_total{source="inotify",type="promotion_new"} 1`)
	}, 10*time.Second, 50*time.Millisecond)
	for _, want := range []string{"kloros_observer_build_info{", "kloros_observer_mailbox_depth_messages{", "kloros_observer_zooids{"} {
		require.Contains(t, body, want)
	}
	check := exec.Command("/usr/bin/promtool", "check", "metrics")
	check.Stdin = strings.NewReader(body)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)))
	resp, err := http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	// Ready once the tree has started and ChemBus is connected (it may still be connecting).
	var ready string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ready = string(b)
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "/readyz: %s", ready)
}
