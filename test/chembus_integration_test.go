package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

const threshold = 3 * time.Second

// heartbeatDaemon starts the daemon with only the heartbeat monitor on.
func heartbeatDaemon(t *testing.T, state, xsub, xpub string, extra ...string) *daemon {
	args := append([]string{
		"--state-dir", state, "--log-level", "debug",
		"--chembus-proxy", "external", "--chem-xsub", xsub, "--chem-xpub", xpub,
		"--heartbeat-threshold", threshold.String(), "--heartbeat-peer-interval", "1s", // the test peers beat every second
		"--fswatch-enabled=false", "--journald-enabled=false", "--scrape-enabled=false", "--http-enabled=false",
	}, extra...)
	d := startDaemon(t, args...)
	d.waitLog("supervision tree started", 20*time.Second)
	for i, a := range args { // a subscriber chosen in a config file (eachSubscriber) is the one running
		if a == "--config" && i+1 < len(args) {
			b, err := os.ReadFile(args[i+1])
			require.NoError(t, err)
			if _, kind, ok := strings.Cut(string(b), "subscriber: "); ok {
				d.waitLog("subscriber="+strings.TrimSpace(kind), 5*time.Second)
			}
		}
	}
	return d
}

// eachSubscriber runs test once per chembus.subscriber (zmtp, libzmq), as
// a subtest named after it; sub is the daemon arguments that select it.
func eachSubscriber(t *testing.T, test func(t *testing.T, sub []string)) {
	for _, kind := range []string{"zmtp", "libzmq"} {
		t.Run(kind, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "observer.yaml")
			require.NoError(t, os.WriteFile(cfg, []byte("chembus:\n  subscriber: "+kind+"\n"), 0o600))
			test(t, []string{"--config", cfg})
		})
	}
}

// awaitDaemonOnBus waits until our own HEARTBEAT reaches the peer: the
// daemon's sockets are connected through the proxy.
func awaitDaemonOnBus(p *peer, after float64) {
	p.await("the daemon's own HEARTBEAT", 25*time.Second, func(e pyEvent) bool {
		if e.Ev != "recv" || e.Topic != "HEARTBEAT" || e.T < after {
			return false
		}
		facts, _ := e.Payload["facts"].(map[string]any)
		return facts["zooid"] == "kloros_observer"
	})
}

// waitCheckpointContaining waits until the registry checkpoint under the
// state dir contains every string. Only the committed file counts: its
// registry.json.tmp exists for the moment between write and rename, and a
// kill -9 in that moment leaves nothing to restore.
func waitCheckpointContaining(t *testing.T, state string, want []string, timeout time.Duration) {
	t.Helper()
	path := filepath.Join(state, "heartbeat", "registry.json")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				return false
			}
		}
		return true
	}, timeout, 50*time.Millisecond, "%s never contained %v", path, want)
}

func gapZooids(p *peer) []string {
	var zs []string
	for z := range p.gaps() {
		zs = append(zs, z)
	}
	sort.Strings(zs)
	return zs
}

// TestIntegrationPythonPeerGap: with a 3 s threshold, stopping one of three
// Python zooids yields exactly one CAPABILITY_GAP for it, within threshold ±
// 0.25 s of its last heartbeat, and none for the others.
func TestIntegrationPythonPeerGap(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub []string) {
		xsub, xpub := startProxy(t)
		p := startPeer(t, xsub, xpub, 500*time.Millisecond)
		d := heartbeatDaemon(t, t.TempDir(), xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s")...)
		_ = d
		awaitDaemonOnBus(p, 0)
		for _, z := range []string{"zooid_a", "zooid_b", "zooid_c"} {
			p.send("start " + z)
		}
		// Let every zooid beat a few times after the daemon is surely subscribed.
		start := float64(time.Now().UnixNano()) / 1e9
		p.await("zooid_b beating", 10*time.Second, func(e pyEvent) bool { return e.Ev == "sent" && e.Zooid == "zooid_b" && e.T > start+1.5 })
		p.send("stop zooid_b")
		p.await("zooid_b stopped", 5*time.Second, func(e pyEvent) bool { return e.Ev == "stopped" && e.Zooid == "zooid_b" })
		last := p.lastSent("zooid_b")

		gap := p.await("CAPABILITY_GAP for zooid_b", 10*time.Second, func(e pyEvent) bool {
			return e.Ev == "recv" && e.Topic == "CAPABILITY_GAP"
		})
		after := gap.T - last
		require.InDelta(t, threshold.Seconds(), after, 0.25, "gap arrived %.3fs after the last heartbeat", after)

		facts := gap.Payload["facts"].(map[string]any)
		require.Equal(t, "monitoring", gap.Payload["ecosystem"])
		require.Equal(t, "heartbeat_missing", facts["gap_type"])
		require.Equal(t, "heartbeat_zooid_b", facts["gap_name"])
		require.Equal(t, "zooid_b", facts["zooid"])
		require.Equal(t, "test_niche", facts["niche"])
		require.InDelta(t, last, facts["last_seen"].(float64), 0.3)
		require.InDelta(t, threshold.Seconds(), facts["missing_seconds"].(float64), 0.3)
		require.NotEmpty(t, gap.Payload["incident_id"])
		require.EqualValues(t, 1, gap.Payload["schema_version"])

		// Two more thresholds: still exactly one gap, and none for the live ones.
		deadline := time.Now().Add(2 * threshold)
		for time.Now().Before(deadline) {
			require.Equal(t, []string{"zooid_b"}, gapZooids(p))
			require.Len(t, p.gaps()["zooid_b"], 1, "one gap per outage episode")
			time.Sleep(100 * time.Millisecond) // polling an outside process's output, not settling
		}
	})
}

// TestIntegrationRestartKeepsEpisodes: kill -9 the daemon, stop one zooid
// while it is down, restart: exactly one gap for that zooid, none for the
// others; kill -9 and restart again: the announced episode is not repeated.
func TestIntegrationRestartKeepsEpisodes(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub []string) {
		xsub, xpub := startProxy(t)
		p := startPeer(t, xsub, xpub, 500*time.Millisecond)
		state := t.TempDir()
		for _, z := range []string{"zooid_a", "zooid_b", "zooid_c"} {
			p.send("start " + z)
		}
		d := heartbeatDaemon(t, state, xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s")...)
		awaitDaemonOnBus(p, 0)
		// The registry checkpoints every 5 s by default and on changes; wait for
		// the daemon to have known every zooid long enough to checkpoint them.
		// The checkpoint is what survives kill -9: wait until it names every zooid.
		waitCheckpointContaining(t, state, []string{"zooid_a", "zooid_b", "zooid_c"}, 15*time.Second)
		d.kill9()

		p.send("stop zooid_b")
		p.await("zooid_b stopped", 5*time.Second, func(e pyEvent) bool { return e.Ev == "stopped" && e.Zooid == "zooid_b" })
		time.Sleep(threshold) // zooid_b dies while we are down

		restarted := float64(time.Now().UnixNano()) / 1e9
		d2 := heartbeatDaemon(t, state, xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s")...)
		gap := p.await("CAPABILITY_GAP for zooid_b after restart", 15*time.Second, func(e pyEvent) bool {
			return e.Ev == "recv" && e.Topic == "CAPABILITY_GAP"
		})
		require.Equal(t, "zooid_b", gap.Payload["facts"].(map[string]any)["zooid"])
		require.GreaterOrEqual(t, gap.T-restarted, threshold.Seconds()-0.25, "one threshold of grace after the restart")
		time.Sleep(threshold)
		require.Equal(t, []string{"zooid_b"}, gapZooids(p))
		require.Len(t, p.gaps()["zooid_b"], 1)

		// Let the open episode reach the checkpoint, then kill again: no repeat.
		waitCheckpointContaining(t, state, []string{gap.Payload["incident_id"].(string)}, 10*time.Second)
		d2.kill9()
		d3 := heartbeatDaemon(t, state, xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s")...)
		_ = d3
		time.Sleep(2 * threshold)
		require.Len(t, p.gaps()["zooid_b"], 1, "an episode announced before the kill is not announced again")
		require.Equal(t, []string{"zooid_b"}, gapZooids(p))
	})
}

// TestIntegrationPauseNoGapStorm: SIGSTOP the daemon for 2x the threshold,
// SIGCONT: zooids that kept beating get no gap.
func TestIntegrationPauseNoGapStorm(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub []string) {
		xsub, xpub := startProxy(t)
		p := startPeer(t, xsub, xpub, 500*time.Millisecond)
		for _, z := range []string{"zooid_a", "zooid_b", "zooid_c"} {
			p.send("start " + z)
		}
		d := heartbeatDaemon(t, t.TempDir(), xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s")...)
		awaitDaemonOnBus(p, 0)
		d.waitLog("zooid_c", 10*time.Second)
		d.signal(syscall.SIGSTOP)
		time.Sleep(2 * threshold)
		d.signal(syscall.SIGCONT)
		resumed := float64(time.Now().UnixNano()) / 1e9
		// The daemon is alive again once its own heartbeat flows.
		awaitDaemonOnBus(p, resumed)
		time.Sleep(threshold + time.Second)
		require.Empty(t, p.gaps(), fmt.Sprintf("no gap for zooids that kept beating; logs:\n%s", d.logs.String()))
	})
}

// TestIntegrationKillExit: with --on-kill exit, governance.kill on the bus
// makes the daemon shut down in order and exit 0 — through the supervision
// tree's stop path, not a signal to itself.
func TestIntegrationKillExit(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub []string) {
		xsub, xpub := startProxy(t)
		p := startPeer(t, xsub, xpub, 500*time.Millisecond)
		d := heartbeatDaemon(t, t.TempDir(), xsub, xpub, append(sub, "--chem-heartbeat-interval", "1s", "--on-kill", "exit")...)
		awaitDaemonOnBus(p, 0) // subscribed through the proxy
		pub := exec.Command(binary(t, "chembus"), "--xsub", xsub, "pub", "--count", "20", "--every", "500ms",
			messages.TopicKill, `{"reason":"integration test"}`)
		require.NoError(t, pub.Start())
		t.Cleanup(func() { _ = pub.Process.Kill(); _ = pub.Wait() })
		require.Equal(t, 0, d.waitExit(20*time.Second), "an ordered shutdown exits 0; logs:\n%s", d.logs.String())
		logs := d.logs.String()
		require.Contains(t, logs, "governance.kill received; shutting down")
		require.Contains(t, logs, "reason=\"governance.kill (chembus.on_kill=exit)\"")
		require.Contains(t, logs, "final statistics")
	})
}
