//go:build linux

package journald

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coreos/go-systemd/v22/journal"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

// remoteJournal writes export-format entries into a journal file with a
// long-running systemd-journal-remote (so entries can be appended while a
// source follows the directory).
type remoteJournal struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	n     int
}

func newRemoteJournal(t *testing.T) *remoteJournal {
	t.Helper()
	const bin = "/lib/systemd/systemd-journal-remote"
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("this test needs systemd-journal-remote: apt-get install systemd-journal-remote")
	}
	r := &remoteJournal{dir: t.TempDir()}
	r.cmd = exec.Command(bin, "-o", filepath.Join(r.dir, "remote.journal"), "-")
	var err error
	r.stdin, err = r.cmd.StdinPipe()
	require.NoError(t, err)
	r.cmd.Stderr = io.Discard
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() { r.stdin.Close(); r.cmd.Wait() })
	return r
}

func (r *remoteJournal) write(t *testing.T, unit string, prio int, msgs ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var sb strings.Builder
	for _, m := range msgs {
		r.n++
		fmt.Fprintf(&sb, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=%s\nPRIORITY=%d\nMESSAGE=%s\n\n",
			time.Now().UnixMicro(), r.n, unit, prio, m)
	}
	_, err := io.WriteString(r.stdin, sb.String())
	require.NoError(t, err)
}

// flushAnswerer stands in for the dispatcher: it records events and answers
// Flush after `delay` (so the test can see the checkpoint wait for it).
func flushAnswerer(t *testing.T, s *actor.ActorSystem, delay time.Duration) (*actor.PID, chan *messages.Event, chan uint64) {
	evs := make(chan *messages.Event, 100000)
	flushed := make(chan uint64, 1000)
	pid := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.EventBatch:
			for _, e := range m.Events {
				evs <- e
			}
		case *messages.Flush:
			f := m
			time.AfterFunc(delay, func() { s.Root.Send(f.ReplyTo, &messages.Flushed{ID: f.ID}); flushed <- f.ID })
		}
	}))
	return pid, evs, flushed
}

func journaldCfg(dir, state string, disp *actor.PID) Config {
	return Config{Name: "units", Units: []string{"dream.service", "kloros.service"}, Match: "unit", Dir: dir,
		CheckpointFile: filepath.Join(state, "units.cursor"), CheckpointInterval: 200 * time.Millisecond,
		MaxMessageBytes: 64, Dispatcher: disp}
}

func TestJournaldReadsFollowsAndCheckpointsAfterFlushed(t *testing.T) {
	rj := newRemoteJournal(t)
	state := t.TempDir()
	rj.write(t, "dream.service", 3, "evaluation 1 failed: error", "ignored: all fine")
	rj.write(t, "other.service", 3, "generation failed: error") // another unit: not matched
	s := actortest.NewSystem(t)
	disp, evs, flushed := flushAnswerer(t, s, 300*time.Millisecond)
	deps := actortest.Deps(t, nil)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(rj.dir, state, disp), deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })

	e := <-evs
	require.Equal(t, "dream_error", e.Type)
	require.Equal(t, "dream.service", e.Data["unit"])
	require.NoFileExists(t, filepath.Join(state, "units.cursor"), "no checkpoint before the barrier is answered")
	<-flushed
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(state, "units.cursor")); return err == nil },
		5*time.Second, 10*time.Millisecond)

	// Appended while following; a huge message is truncated with a marker.
	rj.write(t, "kloros.service", 2, "fatal: crash "+strings.Repeat("x", 200))
	e = <-evs
	require.Equal(t, "error_critical", e.Type)
	require.Contains(t, e.Data["message"], "…[truncated")
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_journal_messages_truncated_total", nil))
}

// Stop and restart the source mid-stream: with the checkpoint, no entry is
// lost and none repeated.
func TestJournaldRestartNeitherLosesNorRepeats(t *testing.T) {
	rj := newRemoteJournal(t)
	state := t.TempDir()
	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	seen := map[string]int{}
	last := ""
	collect := func(n int) {
		for range n {
			select {
			case e := <-evs:
				seen[e.Data["message"].(string)]++
				last = e.Data["cursor"].(string)
			case <-time.After(10 * time.Second):
				t.Fatalf("only %d distinct entries so far", len(seen))
			}
		}
	}
	batch := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("generation %d", i))
		}
		return out
	}
	rj.write(t, "dream.service", 6, batch(0, 500)...)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(rj.dir, state, disp), actortest.Deps(t, nil))))
	collect(500)
	// Wait for the checkpoint to cover everything read, then stop.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(state, "units.cursor"))
		return strings.TrimSpace(string(b)) == last
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Root.StopFuture(pid).Wait())
	rj.write(t, "dream.service", 6, batch(500, 800)...) // written while the source is down
	pid2 := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(rj.dir, state, disp), actortest.Deps(t, nil))))
	t.Cleanup(func() { s.Root.StopFuture(pid2).Wait() })
	collect(300)
	select {
	case e := <-evs:
		seen[e.Data["message"].(string)]++
	case <-time.After(time.Second):
	}
	require.Len(t, seen, 800, "none lost")
	for m, n := range seen {
		require.Equal(t, 1, n, "%q read %d times", m, n)
	}
}

func TestJournaldMissingDirectoryRetries(t *testing.T) {
	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	dir := filepath.Join(t.TempDir(), "later")
	deps := actortest.Deps(t, nil)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(dir, t.TempDir(), disp), deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_journal_errors_total", nil) >= 2
	}, 5*time.Second, 10*time.Millisecond, "an absent journal is retried and counted, not a crash loop")
	_ = evs
}

// ensureJournald makes sure a real systemd-journald is serving
// /run/systemd/journal (it runs standalone as root), starting one for the
// test if needed and stopping it afterwards.
func ensureJournald(t *testing.T) {
	t.Helper()
	const bin = "/lib/systemd/systemd-journald"
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("this test needs systemd-journald: apt-get install systemd")
	}
	if out, _ := exec.Command("pgrep", "-f", bin).Output(); len(out) > 0 {
		return
	}
	require.NoError(t, os.MkdirAll("/run/systemd/journal", 0o755))
	cmd := exec.Command(bin)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	require.Eventually(t, func() bool {
		_, err := os.Stat("/run/systemd/journal/socket")
		return err == nil && journal.Enabled()
	}, 10*time.Second, 20*time.Millisecond, "systemd-journald did not come up")
}

// TestJournaldRealSystemJournal: entries sent to a real journald (go-systemd
// journal.Send) are read from the system journal, matched by
// SYSLOG_IDENTIFIER, with PRIORITY honoured.
func TestJournaldRealSystemJournal(t *testing.T) {
	ensureJournald(t)
	id := fmt.Sprintf("kloros-jtest-%d", time.Now().UnixNano())
	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	cfg := journaldCfg("", t.TempDir(), disp)
	cfg.Match, cfg.Units, cfg.Start = "identifier", []string{id}, time.Now().Add(-time.Second)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(cfg, actortest.Deps(t, nil))))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	send := func(msg string, p journal.Priority) {
		require.NoError(t, journal.Send(msg, p, map[string]string{"SYSLOG_IDENTIFIER": id}))
	}
	send("connection error while syncing", journal.PriInfo) // an error word at info: no event
	send("fatal: worker crash", journal.PriErr)
	send("CUDA out of memory", journal.PriWarning)
	var got []string
	deadline := time.After(15 * time.Second)
	for len(got) < 2 {
		select {
		case e := <-evs:
			require.Equal(t, id, e.Data["unit"])
			got = append(got, e.Type)
		case <-deadline:
			t.Fatalf("events from the real journal: %v", got)
		}
	}
	require.Equal(t, []string{"error_critical", "gpu_oom"}, got)
}

// A quiet source (entries read, none an event) still checkpoints on its
// timer, so a restart does not re-read them.
func TestJournaldQuietSourceCheckpointsOnTimer(t *testing.T) {
	rj := newRemoteJournal(t)
	state := t.TempDir()
	rj.write(t, "dream.service", 6, "step 1 ok", "step 2 ok", "step 3 ok")
	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(rj.dir, state, disp), actortest.Deps(t, nil))))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(state, "units.cursor")); return err == nil },
		5*time.Second, 20*time.Millisecond, "the timer checkpoints the last entry read")
	require.Empty(t, evs)
}

// A checkpointed cursor that is no longer in the journal (vacuumed) falls
// back to the oldest entry and counts what may have been missed.
func TestJournaldVacuumedCursorFallsBackToHead(t *testing.T) {
	rj := newRemoteJournal(t)
	state := t.TempDir()
	rj.write(t, "dream.service", 6, "generation 1", "generation 2")
	// A cursor from a journal that no longer exists, at sequence number 1.
	gone := "s=00000000000000000000000000000001;i=1;b=0123456789abcdef0123456789abcdef;m=1;t=1;x=1"
	require.NoError(t, os.WriteFile(filepath.Join(state, "units.cursor"), []byte(gone+"\n"), 0o600))
	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	deps := actortest.Deps(t, nil)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(journaldCfg(rj.dir, state, disp), deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	for _, want := range []string{"generation 1", "generation 2"} {
		select {
		case e := <-evs:
			require.Equal(t, want, e.Data["message"])
		case <-time.After(10 * time.Second):
			t.Fatal("nothing read after falling back")
		}
	}
}

// writeFields appends one entry with the given fields (beside the
// timestamps and boot id).
func (r *remoteJournal) writeFields(t *testing.T, fields ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	entry := fmt.Sprintf("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n%s\n\n",
		time.Now().UnixMicro(), r.n, strings.Join(fields, "\n"))
	_, err := io.WriteString(r.stdin, entry)
	require.NoError(t, err)
}

// The systemd source reads what systemd itself says about the configured
// units (PID 1 from init.scope with UNIT=, a user manager with USER_UNIT=)
// and types it; systemd about another unit, the rest of what it says, and
// the units' own lines are not its business.
func TestJournaldReadsSystemdMessagesAboutItsUnits(t *testing.T) {
	rj := newRemoteJournal(t)
	pid1 := func(unit, prio, msg string) {
		rj.writeFields(t, "_PID=1", "_COMM=systemd", "_SYSTEMD_UNIT=init.scope", "SYSLOG_IDENTIFIER=systemd",
			"UNIT="+unit, "PRIORITY="+prio, "MESSAGE="+msg)
	}
	pid1("kloros.service", "5", "kloros.service: Scheduled restart job, restart counter is at 3.")
	pid1("other.service", "5", "other.service: Scheduled restart job, restart counter is at 9.") // not ours
	pid1("kloros.service", "6", "Started kloros.service - KLoROS.")                              // no event
	pid1("kloros.service", "3", "Failed to start kloros.service - KLoROS.")                      // no event
	rj.writeFields(t, "_PID=1200", "_COMM=systemd", "_SYSTEMD_UNIT=user@1000.service", "USER_UNIT=dream.service",
		"PRIORITY=4", "MESSAGE=dream.service: Failed with result 'exit-code'.")
	rj.write(t, "dream.service", 3, "evaluation 1 failed: error") // the unit's own line: the units source's
	pid1("kloros.service", "5", "kloros.service: Scheduled restart job, restart counter is at 4.")

	s := actortest.NewSystem(t)
	disp, evs, _ := flushAnswerer(t, s, 0)
	cfg := journaldCfg(rj.dir, t.TempDir(), disp)
	cfg.Name, cfg.ReadManager = "systemd", true
	pid := s.Root.Spawn(actor.PropsFromProducer(New(cfg, actortest.Deps(t, nil))))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })

	var got []*messages.Event
	for len(got) < 3 {
		select {
		case e := <-evs:
			got = append(got, e)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d events, want 3", len(got))
		}
	}
	require.Equal(t, "service_restart", got[0].Type)
	require.Equal(t, "kloros.service", got[0].Data["unit"])
	require.Equal(t, 3, got[0].Data["restart_counter"])
	require.Equal(t, "service_failed", got[1].Type)
	require.Equal(t, "dream.service", got[1].Data["unit"])
	require.Equal(t, "exit-code", got[1].Data["result"])
	require.Equal(t, "service_restart", got[2].Type, "nothing else between: not other.service, not Started/Failed to start, not the unit's own line")
	require.Equal(t, 4, got[2].Data["restart_counter"])
}
