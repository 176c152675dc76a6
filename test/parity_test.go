package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/journald/classify"
)

// spooled is one event file of --spool-events.
type spooled struct {
	Source string         `json:"source"`
	Type   string         `json:"type"`
	Data   map[string]any `json:"data"`
}

func readSpool(t *testing.T, dir string) []spooled {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	var out []spooled
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var ev spooled
		require.NoError(t, json.Unmarshal(b, &ev), f)
		out = append(out, ev)
	}
	return out
}

// writeJournal writes the entries, in order, into DIR/x.journal with
// systemd-journal-remote from export format: unit entries with
// _SYSTEMD_UNIT, kernel entries with _TRANSPORT=kernel, systemd's messages
// about a unit from init.scope with UNIT=.
func writeJournal(t *testing.T, dir string, entries []classify.CorpusEntry) {
	t.Helper()
	const remote = "/lib/systemd/systemd-journal-remote"
	requireTool(t, remote, "apt-get install systemd-journal-remote")
	var sb strings.Builder
	now := time.Now().Add(-time.Minute).UnixMicro()
	for i, e := range entries {
		fmt.Fprintf(&sb, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n", now+int64(i), i+1)
		switch {
		case e.Kernel():
			sb.WriteString("_TRANSPORT=kernel\nSYSLOG_IDENTIFIER=kernel\n")
		case e.Manager: // systemd (PID 1) about the unit
			fmt.Fprintf(&sb, "_TRANSPORT=journal\n_PID=1\n_COMM=systemd\n_SYSTEMD_UNIT=init.scope\nSYSLOG_IDENTIFIER=systemd\nUNIT=%s\n", e.Unit)
		default:
			fmt.Fprintf(&sb, "_TRANSPORT=stdout\n_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=%s\n", e.Unit, strings.TrimSuffix(e.Unit, ".service"))
		}
		fmt.Fprintf(&sb, "PRIORITY=%d\nMESSAGE=%s\n\n", e.Priority, e.Message)
	}
	cmd := exec.Command(remote, "-o", filepath.Join(dir, "x.journal"), "-")
	cmd.Stdin = strings.NewReader(sb.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
}

// TestIntegrationParityReplay is issue 16's "done when": a mixed journal
// (the colony's 15 default units and the kernel, every line of the
// classification corpus at every priority it lists) and the intent
// router's dead-letter file, replayed through the built daemon with its
// default units, yield, line for line, the event types of the corpus — and
// nothing for the lines that must give none. The systemd audit runs with no
// bus, which must not stop anything.
func TestIntegrationParityReplay(t *testing.T) {
	entries, err := classify.ReadCorpus(filepath.Join(repoRoot(), "actors", "journald", "classify", "testdata", "corpus.tsv"))
	require.NoError(t, err)
	jdir, state := t.TempDir(), t.TempDir()
	writeJournal(t, jdir, entries)
	dead := filepath.Join(state, "failed_signals.jsonl")
	letter := func(i int) string { return fmt.Sprintf(`{"signal":"Q_%d","error":"no handler for Q_%d"}`+"\n", i, i) }
	require.NoError(t, os.WriteFile(dead, []byte(letter(1)+letter(2)+letter(3)), 0o600))

	d := startDaemon(t, "--state-dir", state, "--spool-events", "--journal-dir", jdir,
		"--systemd-audit-bus", "unix:path="+filepath.Join(state, "no-such-bus"),
		"--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false")
	d.waitLog("supervision tree started", 20*time.Second)
	d.waitLog("following the dead-letter file", 10*time.Second)

	want := map[string]string{} // unit|priority|message -> type
	nwant := 0
	for _, e := range entries {
		want[fmt.Sprintf("%s|%d|%s", e.Unit, e.Priority, e.Message)] = e.Expect
		if e.Expect != "" {
			nwant++
		}
	}
	count := func(source string) int {
		n := 0
		for _, ev := range readSpool(t, filepath.Join(state, "events")) {
			if ev.Source == source {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return count("deadletter") == 1 }, 20*time.Second, 20*time.Millisecond,
		"the backlog of dead letters gives one event")
	f, err := os.OpenFile(dead, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(letter(4) + letter(5))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Eventually(t, func() bool { return count("journald") >= nwant && count("deadletter") >= 2 }, 30*time.Second, 50*time.Millisecond,
		"spooled %d of %d journal events", count("journald"), nwant)
	d.waitLog("no systemd D-Bus; the audit is retried with backoff", 10*time.Second)
	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))

	got := map[string]string{}
	var letters []spooled
	for _, ev := range readSpool(t, filepath.Join(state, "events")) {
		switch ev.Source {
		case "journald":
			key := fmt.Sprintf("%v|%v|%v", ev.Data["unit"], ev.Data["priority"], ev.Data["message"])
			exp, ok := want[key]
			require.True(t, ok, "an event for an entry not in the corpus: %s", key)
			require.Empty(t, got[key], "entry %s gave two events", key)
			require.Equal(t, exp, ev.Type, "entry %s", key)
			got[key] = ev.Type
		case "deadletter":
			letters = append(letters, ev)
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	for key, exp := range want {
		require.Equal(t, exp, got[key], "entry %s", key) // "" for a line that must give no event
	}
	require.Len(t, got, nwant)
	t.Logf("%d journal entries replayed: %d events of the corpus's types, %d near-misses and non-errors gave none", len(entries), nwant, len(entries)-nwant)

	require.Len(t, letters, 2)
	byHistorical := map[bool]spooled{}
	for _, l := range letters {
		require.Equal(t, "error_critical", l.Type)
		require.Equal(t, "kloros-intent-router.service", l.Data["unit"])
		byHistorical[l.Data["historical"].(bool)] = l
	}
	require.Equal(t, float64(3), byHistorical[true].Data["count"])
	require.Equal(t, "3 historical dead letters in "+dead+"; last error: no handler for Q_3", byHistorical[true].Data["message"])
	require.Equal(t, float64(2), byHistorical[false].Data["count"])
	require.Equal(t, "no handler for Q_5", byHistorical[false].Data["last_error"])

	// Every intent those events caused verifies the way the colony's Python
	// orchestrator checks it.
	intentFiles, err := filepath.Glob(filepath.Join(state, "intents", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, intentFiles)
	for _, f := range intentFiles {
		pythonVerify(t, f)
	}
	t.Logf("%d intents verified with the Python check", len(intentFiles))

	// Restarted, it repeats nothing: neither journal entries nor dead letters.
	before := len(readSpool(t, filepath.Join(state, "events")))
	d2 := startDaemon(t, "--state-dir", state, "--spool-events", "--journal-dir", jdir,
		"--systemd-audit-bus", "unix:path="+filepath.Join(state, "no-such-bus"),
		"--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false")
	d2.waitLog("following the dead-letter file", 20*time.Second)
	f, err = os.OpenFile(dead, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(letter(6))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Eventually(t, func() bool { return count("deadletter") == 3 }, 20*time.Second, 20*time.Millisecond)
	d2.signal(syscall.SIGTERM)
	require.Equal(t, 0, d2.waitExit(15*time.Second))
	require.Len(t, readSpool(t, filepath.Join(state, "events")), before+1, "only the new dead letter")
}
