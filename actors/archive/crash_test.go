package archive

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// crashHelperEnv makes this test binary a helper that queues intents and
// archives them in a loop until it is killed, printing "queued <name>" once
// each intent is durable in the queue.
const crashHelperEnv = "KLOROS_ARCHIVE_CRASH_HELPER"

func TestMain(m *testing.M) {
	if state := os.Getenv(crashHelperEnv); state != "" {
		crashHelper(state)
		return
	}
	os.Exit(m.Run())
}

func crashHelper(state string) {
	intents := filepath.Join(state, "intents")
	a := New(DefaultConfig(state))
	old := time.Now().Add(-48 * time.Hour)
	for round := 0; ; round++ {
		var files []intentfile.File
		for i := range 20 {
			in := messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: fmt.Sprintf("round %d intent %d %s", round, i, strings.Repeat("x", 2000)),
				Data: messages.Object{{Key: "round", Value: round}, {Key: "i", Value: i}}}
			enc, err := intentfile.Encode(&in, old.Add(time.Duration(round*20+i)*time.Millisecond))
			if err != nil {
				panic(err)
			}
			files = append(files, intentfile.File{Name: enc.Name, Body: enc.Body})
		}
		for i, err := range intentfile.CommitBatch(intents, files) {
			if err != nil {
				panic(err)
			}
			fmt.Println("queued", files[i].Name)
		}
		if _, err := a.Sweep(intents, time.Now().Add(-24*time.Hour), time.Now(), false); err != nil {
			panic(err)
		}
	}
}

// kill -9 while intents are being archived: every intent that was durable
// in the queue is afterwards in the queue or in the archive, the archive
// reads back (at most a torn last member), and the next sweep repairs the
// tail and archives what was left.
func TestIntegrationKillDuringArchiveLosesNothing(t *testing.T) {
	for run := range 3 {
		state := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(state, "intents"), 0o700))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+state)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		queued := map[string]bool{}
		sc := bufio.NewScanner(out)
		// Kill after a different number of intents each run, so the kill
		// lands at different points of the append/remove cycle.
		target := 200 + run*137
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "queued "); ok {
				queued[name] = true
			}
			if len(queued) >= target {
				break
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		for sc.Scan() { // what it said before it died
			if name, ok := strings.CutPrefix(sc.Text(), "queued "); ok {
				queued[name] = true
			}
		}
		_ = cmd.Wait()

		a := New(DefaultConfig(state))
		entries, _, err := a.Read(Filter{})
		require.NoError(t, err)
		archived := map[string]bool{}
		for _, e := range entries {
			require.Empty(t, e.VerifyErr, e.File)
			archived[e.File] = true
		}
		left := map[string]bool{}
		names, err := filepath.Glob(filepath.Join(state, "intents", "*.json"))
		require.NoError(t, err)
		for _, n := range names {
			left[filepath.Base(n)] = true
		}
		for name := range queued {
			require.True(t, archived[name] || left[name], "run %d: %s was queued and is neither archived nor in the queue", run, name)
		}
		// The next sweep (a new process: a new Archive) archives the rest;
		// the archive then reads back whole, without damage.
		_, err = New(DefaultConfig(state)).Sweep(filepath.Join(state, "intents"), time.Now().Add(-24*time.Hour), time.Now(), false)
		require.NoError(t, err)
		entries, dmg, err := a.Read(Filter{})
		require.NoError(t, err)
		require.Empty(t, dmg, "run %d: the torn tail is cut before the next append", run)
		all := map[string]bool{}
		for _, e := range entries {
			all[e.File] = true
		}
		for name := range queued {
			require.True(t, all[name], "run %d: %s lost", run, name)
		}
		t.Logf("run %d: %d queued before the kill, %d archived before it, %d after", run, len(queued), len(archived), len(all))
	}
}
