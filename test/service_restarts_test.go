package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/journald/classify"
)

// TestIntegrationServiceRestartsEndToEnd: systemd's own messages about a
// unit, as PID 1 logs them (_SYSTEMD_UNIT=init.scope, UNIT=kloros.service),
// written into a journal with systemd-journal-remote: four restarts of
// kloros.service within the hour (each after its "Failed with result") and
// two of dream.service give exactly one alert_service_restarts intent, for
// kloros.service with the count and systemd's restart counter, and it
// verifies (Python and intentctl).
func TestIntegrationServiceRestartsEndToEnd(t *testing.T) {
	var entries []classify.CorpusEntry
	for i := 1; i <= 4; i++ {
		entries = append(entries,
			classify.CorpusEntry{Unit: "kloros.service", Manager: true, Priority: 5,
				Message: "kloros.service: Main process exited, code=exited, status=1/FAILURE"},
			classify.CorpusEntry{Unit: "kloros.service", Manager: true, Priority: 4,
				Message: "kloros.service: Failed with result 'exit-code'."},
			classify.CorpusEntry{Unit: "kloros.service", Manager: true, Priority: 5,
				Message: fmt.Sprintf("kloros.service: Scheduled restart job, restart counter is at %d.", i)})
		if i <= 2 {
			entries = append(entries, classify.CorpusEntry{Unit: "dream.service", Manager: true, Priority: 5,
				Message: fmt.Sprintf("dream.service: Scheduled restart job, restart counter is at %d.", i)})
		}
	}
	jdir, state := t.TempDir(), t.TempDir()
	writeJournal(t, jdir, entries)

	d := startDaemon(t, "--state-dir", state, "--spool-events", "--journal-dir", jdir, "--journal-kernel=false",
		"--systemd-audit-bus", "unix:path="+filepath.Join(state, "no-such-bus"),
		"--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false")
	d.waitLog("supervision tree started", 20*time.Second)
	dir := filepath.Join(state, "intents")
	require.Eventually(t, func() bool { return len(intents(t, dir)) >= 1 }, 20*time.Second, 20*time.Millisecond)
	restarts := func() int {
		n := 0
		for _, ev := range readSpool(t, filepath.Join(state, "events")) {
			if ev.Type == classify.ServiceRestart {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return restarts() == 6 }, 20*time.Second, 20*time.Millisecond,
		"every restart read: %d of 6", restarts())
	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))

	files := intents(t, dir)
	require.Len(t, files, 1, "one intent: kloros.service restarted 4 times (> 3), dream.service only twice")
	require.Contains(t, filepath.Base(files[0]), "_alert_service_restarts_")
	pythonVerify(t, files[0])
	out, err := exec.Command(binary(t, "intentctl"), "verify", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var in struct {
		Reason string         `json:"reason"`
		Data   map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &in))
	require.Equal(t, "kloros.service restarted 4 times in 1 hour", in.Reason)
	require.Equal(t, "kloros.service", in.Data["unit"])
	require.Equal(t, 4.0, in.Data["restart_count"])
	require.Equal(t, 4.0, in.Data["restart_counter"])
	require.Equal(t, "kloros.service: Scheduled restart job, restart counter is at 4.", in.Data["last_message"])

	var failed int
	for _, ev := range readSpool(t, filepath.Join(state, "events")) {
		if ev.Type == classify.ServiceFailed {
			failed++
			require.Equal(t, "exit-code", ev.Data["result"])
		}
		require.NotContains(t, ev.Data["message"], "Main process exited", "systemd's other lines are no event")
	}
	require.Equal(t, 4, failed, "each failed result is an event of its own, not a restart")
}
