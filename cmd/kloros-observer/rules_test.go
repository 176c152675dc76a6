package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRulesCheck(t *testing.T) {
	code, out, _ := runCLI(t, "rules", "check", "../../actors/rules/default.yaml")
	require.Equal(t, 0, code)
	require.Contains(t, out, "ok: 15 rules")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`rules:
  - name: x
    kind: match
    on: [a]
    when: nope > 1
    intent: {type: t, priority: 12, reason: r}
  - name: y
    kind: absence
    on: [b]
    intent: {type: t, priority: 1, reason: r}
`), 0o644))
	code, out, errs := runCLI(t, "rules", "check", bad)
	require.Equal(t, 1, code, errs)
	require.Contains(t, out, bad+":5:11: rule \"x\": unknown name nope")
	require.Contains(t, out, bad+":6:33: rule \"x\": intent.priority = 12: must be 0..10")
	require.Contains(t, out, bad+":7:5: rule \"y\": for = 0s: must be a positive duration")
	require.Contains(t, errs, "3 problem(s)")
}

func TestRulesTest(t *testing.T) {
	code, out, errs := runCLI(t, "rules", "test", "../../actors/rules/testdata/default_rules.test.yaml")
	require.Equal(t, 0, code, out+errs)
	code, out, _ = runCLI(t, "rules", "test", "../../actors/rules/testdata/failing_rules.test.yaml")
	require.Equal(t, 1, code)
	require.Contains(t, out, "FAIL ")
}

func TestRulesDefaultPrintsTheEmbeddedFile(t *testing.T) {
	code, out, _ := runCLI(t, "rules", "default")
	require.Equal(t, 0, code)
	b, err := os.ReadFile("../../actors/rules/default.yaml")
	require.NoError(t, err)
	require.Equal(t, string(b), out)
}

// Replay over a real journal directory (written by systemd-journal-remote)
// prints what the rules would have proposed, on the entries' own times.
func TestRulesReplayJournalDir(t *testing.T) {
	const bin = "/lib/systemd/systemd-journal-remote"
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("this test needs systemd-journal-remote: apt-get install systemd-journal-remote")
	}
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	var sb strings.Builder
	entry := func(i int, at time.Duration, unit string, prio int, msg string) {
		fmt.Fprintf(&sb, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=%s\nPRIORITY=%d\nMESSAGE=%s\n\n",
			t0.Add(at).UnixMicro(), i+1, unit, prio, msg)
	}
	entry(0, 0, "dream.service", 3, "evaluation failed: error")
	entry(1, time.Minute, "kloros.service", 3, "all good")
	entry(2, 2*time.Minute, "kloros.service", 2, "fatal: database unreachable")
	cmd := exec.Command(bin, "-o", filepath.Join(dir, "remote.journal"), "-")
	cmd.Stdin = strings.NewReader(sb.String())
	require.NoError(t, cmd.Run())

	code, out, errs := runCLI(t, "rules", "replay", "--journal-dir", dir, "--until", "2026-11-23T04:06:00Z")
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Contains(t, lines[0], `{"at":"2026-11-23T04:00:00Z","rule":"dream_error","intent_type":"suggest_dream_diagnostic"`)
	require.Contains(t, lines[1], `{"at":"2026-11-23T04:02:00Z","rule":"operational_error","intent_type":"curiosity_investigate","priority":10`)
	require.Contains(t, lines[1], `"question_id":"critical_service_error_1795406520_`)
	// time runs on to --until: no ready-file heartbeat in a journal, so a stall 5 min after the start
	require.Contains(t, lines[2], `{"at":"2026-11-23T04:05:00Z","rule":"heartbeat_stall"`)
	require.Contains(t, errs, "2 events, 3 intents")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "replay writes nothing")
}

func TestRulesReplayNeedsOneSource(t *testing.T) {
	code, _, errs := runCLI(t, "rules", "replay")
	require.Equal(t, 2, code)
	require.Contains(t, errs, "exactly one of --events DIR or --journal-dir DIR")
}
