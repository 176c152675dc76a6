package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cli runs bin/kloros-observer with args and returns its output and exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary(t, "kloros-observer"), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// TestIntegrationOperatorCLI: tap prints the live stream as JSON lines,
// status prints tables and JSON, silences are added, listed and expired, and
// every command says plainly when no daemon runs.
func TestIntegrationOperatorCLI(t *testing.T) {
	promos := filepath.Join(t.TempDir(), "promotions")
	require.NoError(t, os.MkdirAll(promos, 0o700))
	port := freePort(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	d := startDaemon(t, "--state-dir", t.TempDir(), "--fswatch-path", promos, "--chembus-enabled=false",
		"--journald-enabled=false", "--scrape-enabled=false", "--http-listen", fmt.Sprintf("127.0.0.1:%d", port))
	d.waitLog("supervision tree started", 20*time.Second)

	// tap: one promotion_new, as one JSON line.
	tap := exec.Command(binary(t, "kloros-observer"), "tap", "--kind", "event", "--type", "promotion_new", "--count", "1", "--api", api)
	stdout, err := tap.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, tap.Start())
	t.Cleanup(func() { _ = tap.Process.Kill(); _ = tap.Wait() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The stream subscribes when tap connects; keep dropping files until one shows.
	var line string
	deadline := time.After(10 * time.Second)
	for i := 0; line == ""; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(promos, fmt.Sprintf("c%d.json", i)), []byte("{}"), 0o600))
		select {
		case line = <-lines:
		case <-time.After(300 * time.Millisecond):
		case <-deadline:
			t.Fatal("tap printed nothing")
		}
	}
	var ev struct {
		Kind string `json:"kind"`
		Data struct {
			Type, Source string
			Duplicate    bool
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
	require.Equal(t, "event", ev.Kind)
	require.Equal(t, "promotion_new", ev.Data.Type)
	require.NoError(t, tap.Wait(), "tap exits after --count")

	out, code := cli(t, "status", "--api", api)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "kloros-observer")
	require.Contains(t, out, "RULE")
	require.Contains(t, out, "promotion_cluster")
	out, code = cli(t, "status", "-o", "json", "--api", api)
	require.Equal(t, 0, code, out)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	require.Contains(t, st, "zooids")

	// With ChemBus off there is no heartbeat monitor: silences are refused, saying why.
	out, code = cli(t, "silence", "add", "--zooid", "z", "--api", api)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "heartbeat monitor is off")

	// No daemon: a clear sentence, exit 1.
	free := freePort(t)
	for _, args := range [][]string{{"status"}, {"tap"}, {"silence", "list"}} {
		out, code = cli(t, append(args, "--api", fmt.Sprintf("http://127.0.0.1:%d", free))...)
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "no daemon is running at", args)
	}
	out, code = cli(t, "status", "--api", "ftp://x")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--api")
}

// TestIntegrationSilenceCLI: add (with a bad pattern refused naming the
// field), list, expire, against a daemon with the heartbeat monitor.
func TestIntegrationSilenceCLI(t *testing.T) {
	xsub, xpub := startProxy(t)
	port := freePort(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	state := t.TempDir()
	d := heartbeatDaemonHTTP(t, state, xsub, xpub, port)
	_ = d
	out, code := cli(t, "silence", "add", "--pattern", "gpu-(", "--api", api)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "pattern")
	out, code = cli(t, "silence", "add", "--niche", "gpu", "--duration", "2h", "--comment", "rack move", "-o", "json", "--api", api)
	require.Equal(t, 0, code, out)
	var s struct{ ID, State string }
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	require.Equal(t, "active", s.State)
	out, code = cli(t, "silence", "list", "--api", api)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, s.ID)
	require.Contains(t, out, "niche=gpu")
	require.Contains(t, out, "rack move")
	out, code = cli(t, "silence", "expire", s.ID, "--api", api)
	require.Equal(t, 0, code, out)
	out, _ = cli(t, "silence", "list", "--api", api)
	require.NotContains(t, out, s.ID)
	out, _ = cli(t, "silence", "list", "--all", "--api", api)
	require.Contains(t, out, "expired")
	_, err := os.Stat(filepath.Join(state, "heartbeat", "silences.json"))
	require.NoError(t, err, "silences are persisted under the state dir")
}

func heartbeatDaemonHTTP(t *testing.T, state, xsub, xpub string, port int) *daemon {
	d := startDaemon(t, "--state-dir", state, "--chembus-proxy", "external", "--chem-xsub", xsub, "--chem-xpub", xpub,
		"--heartbeat-threshold", threshold.String(), "--heartbeat-peer-interval", "1s",
		"--fswatch-enabled=false", "--journald-enabled=false", "--scrape-enabled=false",
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", port))
	d.waitLog("supervision tree started", 20*time.Second)
	return d
}

// TestIntegrationHTTPPortInUse: a taken listen address does not end the
// daemon (it used to exit 1): the failure is logged once with the address,
// the rest runs, and the API comes up once the port is free.
func TestIntegrationHTTPPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	promos := filepath.Join(t.TempDir(), "promotions")
	require.NoError(t, os.MkdirAll(promos, 0o700))
	state := t.TempDir()
	d := startDaemon(t, "--state-dir", state, "--fswatch-path", promos, "--chembus-enabled=false",
		"--journald-enabled=false", "--scrape-enabled=false", "--http-listen", addr, "--log-level", "debug")
	d.waitLog("supervision tree started", 20*time.Second)
	d.waitLog("cannot listen", 10*time.Second)
	require.Contains(t, d.logs.String(), addr)
	// The daemon works meanwhile: three promotions make an intent.
	for _, n := range []string{"a", "b", "c"} {
		require.NoError(t, os.WriteFile(filepath.Join(promos, n+".json"), []byte("{}"), 0o600))
	}
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(state, "intents", "*_trigger_phase_promotion_cluster_*.json"))
		return len(m) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1, strings.Count(d.logs.String(), "cannot listen"), "logged once")
	require.NoError(t, ln.Close())
	d.waitLog("http listen address is free again", 90*time.Second)
	out, code := cli(t, "status", "--api", "http://"+addr)
	require.Equal(t, 0, code, out)
	select {
	case <-d.done:
		t.Fatal("the daemon exited")
	default:
	}
}
