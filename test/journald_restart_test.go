package test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestIntegrationJournaldKill9ExactlyOnce: 10,000 journal entries are written
// (by systemd-journal-remote, into a --journal-dir) while the daemon reads
// them with --spool-events; it is killed with SIGKILL part way and started
// again. Every entry is in the event spool exactly once: none lost, none
// repeated.
func TestIntegrationJournaldKill9ExactlyOnce(t *testing.T) {
	const remote = "/lib/systemd/systemd-journal-remote"
	requireTool(t, remote, "apt-get install systemd-journal-remote")
	const total = 10000
	jdir, state := t.TempDir(), t.TempDir()
	w := exec.Command(remote, "-o", filepath.Join(jdir, "remote.journal"), "-")
	stdin, err := w.StdinPipe()
	require.NoError(t, err)
	w.Stderr = io.Discard
	require.NoError(t, w.Start())
	t.Cleanup(func() { stdin.Close(); w.Wait() })
	write := func(from, to int) {
		var sb strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&sb, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=dream.service\nPRIORITY=6\nMESSAGE=generation entry-%05d\n\n",
				time.Now().UnixMicro(), i+1, i)
		}
		_, err := io.WriteString(stdin, sb.String())
		require.NoError(t, err)
	}
	args := []string{"--state-dir", state, "--spool-events", "--journal-dir", jdir, "--journal-unit", "dream.service",
		"--journal-kernel=false", "--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false"}
	spooled := func() map[string]int {
		files, _ := filepath.Glob(filepath.Join(state, "events", "*_journald_*.json"))
		out := map[string]int{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var ev struct {
				Data struct {
					Message string `json:"message"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &ev) == nil {
				out[ev.Data.Message]++
			}
		}
		return out
	}
	d := startDaemon(t, args...)
	d.waitLog("supervision tree started", 20*time.Second)
	d.waitLog(`msg="reading the journal" actor=sources/journald_units journal=`+jdir+` reading="units dream.service" from="the oldest entry (no checkpoint)"`, 10*time.Second)
	next := 0
	for next < 4000 { // writing while the daemon reads
		write(next, next+200)
		next += 200
		time.Sleep(5 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(spooled()) >= 1000 }, 20*time.Second, 20*time.Millisecond)
	d.kill9()         // mid-stream: some events spooled, not all checkpointed
	for next < 7000 { // written while the daemon is down
		write(next, next+200)
		next += 200
	}
	d2 := startDaemon(t, args...)
	d2.waitLog("supervision tree started", 20*time.Second)
	d2.waitLog(`reading="units dream.service" from="after the checkpointed cursor `, 10*time.Second) // says where it resumes
	for next < total {
		write(next, next+200)
		next += 200
		time.Sleep(5 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(spooled()) == total }, 60*time.Second, 100*time.Millisecond,
		"spooled %d of %d", len(spooled()), total)
	got := spooled()
	for i := range total {
		require.Equal(t, 1, got[fmt.Sprintf("generation entry-%05d", i)], "entry %d", i)
	}
	files, _ := filepath.Glob(filepath.Join(state, "events", "*_journald_*.json"))
	require.Len(t, files, total, "no entry spooled twice")
}
