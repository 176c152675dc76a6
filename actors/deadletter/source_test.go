//go:build linux

package deadletter

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

// rig is one source over a dead-letter file in a temporary state dir, with
// a stand-in dispatcher that hands events to a channel and answers every
// Flush at once.
type rig struct {
	t      *testing.T
	sys    *actor.ActorSystem
	state  string
	file   string
	events chan *messages.Event
	disp   *actor.PID
	deps   actors.Deps
	pid    *actor.PID
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, state: t.TempDir(), events: make(chan *messages.Event, 1000)}
	r.file = filepath.Join(r.state, "failed_signals.jsonl")
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	r.deps = actors.Deps{Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: telemetry.NewMetrics(), Clock: clock.Real{}}
	r.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	t.Cleanup(r.sys.Shutdown)
	t.Cleanup(func() { // before the temporary dir goes: the checkpoint writer is done
		if r.pid != nil {
			r.stop()
		}
	})
	r.disp = r.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.Event:
			r.events <- m
		case *messages.Flush:
			c.Send(m.ReplyTo, &messages.Flushed{ID: m.ID})
		}
	}))
	return r
}

func (r *rig) start() {
	r.t.Helper()
	cfg := DefaultConfig()
	cfg.File = r.file
	v := config.NewChecker(nil)
	cfg.Validate(v)
	require.NoError(r.t, v.Err())
	cfg.CheckpointFile, cfg.Dispatcher = CheckpointFile(r.state), r.disp
	r.pid = r.sys.Root.Spawn(actor.PropsFromProducer(New(cfg, r.deps)))
}

func (r *rig) stop() {
	r.t.Helper()
	require.NoError(r.t, r.sys.Root.StopFuture(r.pid).Wait())
	r.pid = nil
}

func (r *rig) next() *messages.Event {
	r.t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(10 * time.Second):
		r.t.Fatal("no dead-letter event within 10s")
		return nil
	}
}

// quiet checks that no event comes before the source has checkpointed
// (durably handled) everything up to the file's end.
func (r *rig) quiet() {
	r.t.Helper()
	r.waitCheckpoint(r.size())
	select {
	case ev := <-r.events:
		r.t.Fatalf("unexpected event: %v", ev.Data)
	default:
	}
}

func (r *rig) size() int64 {
	fi, err := os.Stat(r.file)
	require.NoError(r.t, err)
	return fi.Size()
}

func (r *rig) waitCheckpoint(offset int64) {
	r.t.Helper()
	require.Eventually(r.t, func() bool {
		b, err := os.ReadFile(CheckpointFile(r.state))
		if err != nil {
			return false
		}
		var p Position
		return json.Unmarshal(b, &p) == nil && p.Offset == offset
	}, 10*time.Second, 5*time.Millisecond, "checkpoint never reached offset %d", offset)
}

func line(i int) string {
	return fmt.Sprintf(`{"signal":"Q_%d","error":"no route for Q_%d"}`+"\n", i, i)
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func requireEvent(t *testing.T, ev *messages.Event, count int, lastErr string, historical bool) {
	t.Helper()
	require.Equal(t, EventSource, ev.Source)
	require.Equal(t, "error_critical", ev.Type)
	require.Equal(t, "kloros-intent-router.service", ev.Data["unit"])
	require.Equal(t, count, ev.Data["count"], "data: %v", ev.Data)
	require.Equal(t, lastErr, ev.Data["last_error"], "data: %v", ev.Data)
	require.Equal(t, historical, ev.Data["historical"], "data: %v", ev.Data)
}

// A backlog at start gives one event; then each change gives one event with
// the new count and the last error.
func TestBacklogThenNewLines(t *testing.T) {
	r := newRig(t)
	appendTo(t, r.file, line(1)+line(2)+"\n"+line(3)) // a blank line is no dead letter
	r.start()
	ev := r.next()
	requireEvent(t, ev, 3, "no route for Q_3", true)
	require.Equal(t, "3 historical dead letters in "+r.file+"; last error: no route for Q_3", ev.Data["message"])
	appendTo(t, r.file, line(4)+line(5))
	ev = r.next()
	requireEvent(t, ev, 2, "no route for Q_5", false)
	require.Equal(t, "2 new dead letters in "+r.file+"; last error: no route for Q_5", ev.Data["message"])
	appendTo(t, r.file, "not json\n")
	requireEvent(t, r.next(), 1, "", false)
	r.quiet()
}

// A line whose newline is not written yet is not read until it is.
func TestPartialLine(t *testing.T) {
	r := newRig(t)
	appendTo(t, r.file, line(1))
	r.start()
	requireEvent(t, r.next(), 1, "no route for Q_1", true)
	appendTo(t, r.file, `{"signal":"Q_2","err`)
	appendTo(t, r.file, `or":"half"}`)
	appendTo(t, r.file, "\n")
	requireEvent(t, r.next(), 1, "half", false) // never a count for the fragment
	r.quiet()
}

// A restart resumes at the checkpoint: no line reported twice, the lines
// written while it was down reported as new (not historical).
func TestRestartNeitherRepeatsNorMisses(t *testing.T) {
	r := newRig(t)
	appendTo(t, r.file, line(1)+line(2))
	r.start()
	requireEvent(t, r.next(), 2, "no route for Q_2", true)
	appendTo(t, r.file, line(3))
	requireEvent(t, r.next(), 1, "no route for Q_3", false)
	r.waitCheckpoint(r.size())
	r.stop()
	appendTo(t, r.file, line(4)+line(5))
	r.start()
	requireEvent(t, r.next(), 2, "no route for Q_5", false)
	r.quiet()
	r.stop()
	r.start() // nothing new: nothing reported
	r.quiet()
}

// A file truncated in place is read from its start again.
func TestTruncation(t *testing.T) {
	r := newRig(t)
	appendTo(t, r.file, line(1)+line(2)+line(3))
	r.start()
	requireEvent(t, r.next(), 3, "no route for Q_3", true)
	r.waitCheckpoint(r.size())
	require.NoError(t, os.Truncate(r.file, 0))
	appendTo(t, r.file, line(9))
	requireEvent(t, r.next(), 1, "no route for Q_9", false)
	r.quiet()
}

// Rotation: the file is renamed away (the writer still appends to it
// through its descriptor) and a new one is made under the name. Both the
// old file's last lines and the new file's are read, once.
func TestRotation(t *testing.T) {
	r := newRig(t)
	w, err := os.OpenFile(r.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.WriteString(line(1))
	require.NoError(t, err)
	r.start()
	requireEvent(t, r.next(), 1, "no route for Q_1", true)
	require.NoError(t, os.Rename(r.file, r.file+".1"))
	_, err = w.WriteString(line(2)) // into the rotated file
	require.NoError(t, err)
	appendTo(t, r.file, line(3)) // a new file under the name
	total := 0
	for total < 2 {
		ev := r.next()
		require.False(t, ev.Data["historical"].(bool))
		total += ev.Data["count"].(int)
	}
	require.Equal(t, 2, total, "line 2 (old file) and line 3 (new file), each once")
	r.quiet()
	// Rotated while the daemon was down: the new file is read whole.
	r.stop()
	require.NoError(t, os.Rename(r.file, r.file+".2"))
	appendTo(t, r.file, line(4))
	r.start()
	requireEvent(t, r.next(), 1, "no route for Q_4", false)
	r.quiet()
}

// No file yet: nothing reported until the router writes one.
func TestFileAppearsLater(t *testing.T) {
	r := newRig(t)
	r.start()
	require.Eventually(t, func() bool { _, err := os.Stat(CheckpointFile(r.state)); return err == nil }, 10*time.Second, 5*time.Millisecond)
	appendTo(t, r.file, line(1))
	requireEvent(t, r.next(), 1, "no route for Q_1", false)
	r.quiet()
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Resolve("/var/lib/kloros")
	require.Equal(t, "/var/lib/kloros/failed_signals.jsonl", c.File)
	v := config.NewChecker(nil)
	c.Validate(v.At("deadletter"))
	require.NoError(t, v.Err())
	c.File, c.Unit, c.MaxLineBytes = "/var/lib/kloros/", "", 10
	v = config.NewChecker(nil)
	c.Validate(v.At("deadletter"))
	err := v.Err()
	for _, want := range []string{"deadletter.file", "/var/lib/kloros/", "must name a file", "deadletter.unit", "deadletter.max_line_bytes", "must be >= 256"} {
		require.ErrorContains(t, err, want)
	}
}

// A line longer than max_line_bytes still counts as one dead letter (its
// error is not read); the reader does not keep it whole.
func TestLongLine(t *testing.T) {
	r := newRig(t)
	long := `{"error":"` + strings.Repeat("x", 200<<10) + `"}` + "\n"
	appendTo(t, r.file, long+line(2))
	r.start()
	requireEvent(t, r.next(), 2, "no route for Q_2", true)
	appendTo(t, r.file, long)
	requireEvent(t, r.next(), 1, "", false)
	r.quiet()
}
