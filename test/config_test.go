package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIntegrationCheckConfigReportsEverything: --check-config runs exactly the
// start-up validation — rules' settings included — and reports every
// problem at once, YAML and semantic together, each with its key path, line
// and value, suggesting the closest key for a misspelling; exit status 2.
func TestIntegrationCheckConfigReportsEverything(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "observer.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`log_levle: info
heartbeat:
  threshold: 5
rules:
  promotion_cluster: {window: ten minutes}
scrape:
  fallback_protocol: maybe
`), 0o600))
	out, err := exec.Command(binary(t, "kloros-observer"), "--check-config", cfg).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.Equal(t, 2, ee.ExitCode())
	for _, want := range []string{
		"4 problems:",
		`log_levle (line 1): unknown key; did you mean "log_level"?`,
		"heartbeat.threshold (line 3) = 5s: must be at least heartbeat.peer_interval (10s)",
		`rules.promotion_cluster (line 5): window (line 5) = "ten minutes": must be a duration`,
		"scrape.fallback_protocol (line 7) = maybe: must be one of text or none",
	} {
		require.Contains(t, string(out), want)
	}

	// A config that is not a regular file is refused at once.
	out, err = exec.Command(binary(t, "kloros-observer"), "--check-config", "/dev/zero").CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "not a regular file")

	// Warnings are printed, and the file passes.
	require.NoError(t, os.WriteFile(cfg, []byte("heartbeat:\n  threshold: 15s\n"), 0o600))
	out, err = exec.Command(binary(t, "kloros-observer"), "--check-config", cfg).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "warning: heartbeat.threshold (line 2) = 15s: is under two heartbeat intervals (20s)")
	require.Contains(t, string(out), cfg+": ok")
}

// TestIntegrationSeedCommandLineAndUMN: the seed's documented command line
// works (--log-level INFO, plain seconds), and the colony's current UMN
// variables are used over the older KLR_CHEM_* ones, saying which.
func TestIntegrationSeedCommandLineAndUMN(t *testing.T) {
	state := t.TempDir()
	xsub := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	xpub := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	t.Setenv("KLR_UMN_XSUB", xsub)
	t.Setenv("KLR_UMN_XPUB", xpub)
	t.Setenv("KLR_CHEM_XPUB", "tcp://127.0.0.1:1")
	d := startDaemon(t, "--state-dir", state, "--log-level", "INFO", "--metrics-interval", "30", "--gap-repeat", "60",
		"--fswatch-enabled=false", "--journald-enabled=false", "--scrape-enabled=false", "--http-enabled=false")
	d.waitLog("KLR_UMN_XPUB="+xpub+" used; KLR_CHEM_XPUB=tcp://127.0.0.1:1 ignored (the UMN name wins)", 10*time.Second)
	d.waitLog("KLR_UMN_XSUB="+xsub+" used", 10*time.Second)
	d.waitLog("subscribed on ChemBus", 15*time.Second)
	require.True(t, strings.Contains(d.logs.String(), "xpub="+xpub), "%s", d.logs.String())
	d.signal(15)
	require.Equal(t, 0, d.waitExit(10*time.Second))
}

// TestIntegrationRuntimeConfigErrorExitsTwo: a configuration error an actor
// finds only when it starts — the embedded proxy asked for a port someone
// else holds — ends the daemon with exit status 2 (systemd does not restart
// it) instead of running without that actor.
func TestIntegrationRuntimeConfigErrorExitsTwo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	xsub := "tcp://" + l.Addr().String()
	xpub := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	d := startDaemon(t, "--state-dir", t.TempDir(), "--chembus-proxy", "embedded", "--chem-xsub", xsub, "--chem-xpub", xpub,
		"--fswatch-enabled=false", "--journald-enabled=false", "--scrape-enabled=false", "--http-enabled=false")
	require.Equal(t, 2, d.waitExit(15*time.Second))
	require.Contains(t, d.logs.String(), "chembus.proxy = embedded: cannot run the embedded proxy")
}
