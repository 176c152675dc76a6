package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ruleFile is a one-rule file: every promotion_new proposes intentType.
func ruleFile(intentType string) string {
	return fmt.Sprintf(`version: 1
rules:
  - name: promo_alert
    kind: match
    on: [promotion_new]
    intent:
      type: %s
      priority: 5
      reason: "promotion {{ str(data.path) }}"
      data:
        path: "{{ str(data.path) }}"
`, intentType)
}

func metric(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// awaitIntent waits for an intent of type typ for the promotion file name.
func awaitIntent(t *testing.T, dir, typ, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, f := range intents(t, dir) {
			b, _ := os.ReadFile(f)
			if strings.Contains(f, "_"+typ+"_") && strings.Contains(string(b), name) {
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond, "no %s intent for %s", typ, name)
}

// TestIntegrationRulesHotReload: a rule file edited on disk is reloaded
// (debounced) and the new definition used for the next event; a broken file
// is refused — the running rules stay and the reload metric says so; SIGHUP
// reloads too and no longer ends the daemon; a fixed file reloads again.
func TestIntegrationRulesHotReload(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".kloros")
	prom := filepath.Join(home, "promotions")
	rulesDir := filepath.Join(home, "rules.d")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	require.NoError(t, os.MkdirAll(rulesDir, 0o755))
	rf := filepath.Join(rulesDir, "promo.yaml")
	require.NoError(t, os.WriteFile(rf, []byte(ruleFile("alert_promo_one")), 0o644))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, "--state-dir", state, "--rules", rulesDir, "--fswatch-path", prom, "--http-listen", addr,
		"--journald-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false")
	d.waitLog("supervision tree started", 20*time.Second)
	intentsDir := filepath.Join(state, "intents")
	drop := func(name string) { require.NoError(t, os.WriteFile(filepath.Join(prom, name), []byte("{}"), 0o644)) }

	drop("p1.json")
	awaitIntent(t, intentsDir, "alert_promo_one", "p1.json")
	require.Equal(t, "1", metric(t, addr, "kloros_observer_rules_last_reload_successful"))

	// Edited on disk: reloaded after the debounce.
	require.NoError(t, os.WriteFile(rf, []byte(ruleFile("alert_promo_two")), 0o644))
	d.waitLog(`msg="rules reloaded" actor=rules reason="a rule file changed" kept="" changed=promo_alert`, 15*time.Second)
	drop("p2.json")
	awaitIntent(t, intentsDir, "alert_promo_two", "p2.json")

	// Broken: refused, the running rules stay.
	require.NoError(t, os.WriteFile(rf, []byte(strings.Replace(ruleFile("alert_promo_three"), "kind: match", "kind: matcch", 1)), 0o644))
	d.waitLog("rule reload refused; the running rules stay", 15*time.Second)
	require.Contains(t, d.logs.String(), "promo.yaml:", "the error names the file")
	require.Equal(t, "0", metric(t, addr, "kloros_observer_rules_last_reload_successful"))
	drop("p3.json")
	awaitIntent(t, intentsDir, "alert_promo_two", "p3.json")

	// SIGHUP re-reads too, and does not end the daemon.
	d.signal(syscall.SIGHUP)
	d.waitLog("SIGHUP: configuration refused; the running configuration and rules stay", 10*time.Second)
	require.Contains(t, d.logs.String(), `unknown kind \"matcch\"`)
	require.NoError(t, os.WriteFile(rf+".tmp", []byte(ruleFile("alert_promo_four")), 0o644))
	require.NoError(t, os.Rename(rf+".tmp", rf)) // as editors save
	require.Eventually(t, func() bool { return metric(t, addr, "kloros_observer_rules_last_reload_successful") == "1" }, 15*time.Second, 50*time.Millisecond)
	drop("p4.json")
	awaitIntent(t, intentsDir, "alert_promo_four", "p4.json")
	d.signal(syscall.SIGHUP) // a good configuration: reloaded, nothing changed
	d.waitLog(`msg="rules reloaded: nothing changed" actor=rules reason=SIGHUP rules=1`, 10*time.Second)
	for _, f := range intents(t, intentsDir) {
		pythonVerify(t, f)
	}
	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))
}

// TestIntegrationRuleCooldownSurvivesRestart: three promotions → a cluster
// intent; a restart; three more within the hour → no second intent (the
// rule's one-hour cooldown was checkpointed at shutdown and restored).
func TestIntegrationRuleCooldownSurvivesRestart(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".kloros")
	prom := filepath.Join(home, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	intentsDir := filepath.Join(state, "intents")
	cluster := func() int {
		n := 0
		for _, f := range intents(t, intentsDir) {
			if strings.Contains(f, "_trigger_phase_promotion_cluster_") {
				n++
			}
		}
		return n
	}
	d := observerDaemon(t, state, "--fswatch-path", prom, "--spool-events")
	for _, n := range []string{"a.json", "b.json", "c.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(prom, n), []byte("{}"), 0o644))
	}
	require.Eventually(t, func() bool { return cluster() == 1 }, 15*time.Second, 20*time.Millisecond)
	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))
	_, err := os.Stat(filepath.Join(state, "rules", "state.json"))
	require.NoError(t, err, "the rules' state was checkpointed at shutdown")

	d2 := observerDaemon(t, state, "--fswatch-path", prom, "--spool-events")
	for _, n := range []string{"d.json", "e.json", "f.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(prom, n), []byte("{}"), 0o644))
	}
	// The three new promotions reached the rules (spooled), and no second
	// cluster intent came of them.
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(state, "events", "*_promotion_new_*.json"))
		return len(m) == 6
	}, 15*time.Second, 20*time.Millisecond)
	d2.signal(syscall.SIGTERM)
	require.Equal(t, 0, d2.waitExit(15*time.Second))
	require.Equal(t, 1, cluster(), "the cooldown survived the restart")
}
