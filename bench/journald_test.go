package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/journald"
	"github.com/kloros/kloros-observer/actors/journald/classify"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
)

const journalEntries = 1_000_000

// benchJournal writes (once, cached under the OS temp dir) a journal of 1M
// entries of dream.service with systemd-journal-remote.
func benchJournal(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("kloros-bench-journal-%d", journalEntries))
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	w := exec.Command("/lib/systemd/systemd-journal-remote", "-o", filepath.Join(dir, "bench.journal"), "-")
	in, _ := w.StdinPipe()
	w.Stderr = io.Discard
	if err := w.Start(); err != nil {
		b.Fatalf("systemd-journal-remote (apt-get install systemd-journal-remote): %v", err)
	}
	bw := bufio.NewWriterSize(in, 1<<20)
	base := time.Now().Add(-time.Hour).UnixMicro()
	msgs := []string{"generation %d: 3 survivors", "promotion of candidate %d", "evaluation %d failed: error", "step %d ok"}
	for i := range journalEntries {
		fmt.Fprintf(bw, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=dream.service\nPRIORITY=%d\nMESSAGE=%s\n\n",
			base+int64(i), i+1, 3+i%4, fmt.Sprintf(msgs[i%len(msgs)], i))
	}
	bw.Flush()
	in.Close()
	if err := w.Wait(); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
	return dir
}

// BenchmarkJournalRead: entries/s read and classified from a 1M-entry
// journal by the journald source actor (sdjournal, events delivered to a
// sink answering Flush barriers), beside the seed's approach — `journalctl
// -D DIR -o json` piped and parsed with encoding/json, then classified — on
// the same journal in the same run.
func BenchmarkJournalRead(b *testing.B) {
	dir := benchJournal(b)
	b.Run("seed=journalctl-json", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			cmd := exec.Command("journalctl", "-D", dir, "-o", "json", "--no-pager")
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			n, events := 0, 0
			for sc.Scan() {
				var e map[string]any
				if json.Unmarshal(sc.Bytes(), &e) != nil {
					continue
				}
				n++
				unit, _ := e["_SYSTEMD_UNIT"].(string)
				msg, _ := e["MESSAGE"].(string)
				p, _ := strconv.Atoi(fmt.Sprint(e["PRIORITY"]))
				if classify.Unit(unit, msg, p) != "" {
					events++
				}
			}
			cmd.Wait()
			if n != journalEntries {
				b.Fatalf("read %d entries", n)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
		}
	})
	b.Run("native=sdjournal-actor", func(b *testing.B) {
		for b.Loop() {
			s := newSystem(b)
			var events atomic.Int64
			done := make(chan struct{})
			var closed atomic.Bool
			sink := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				switch m := c.Message().(type) {
				case *messages.EventBatch:
					if events.Add(int64(len(m.Events))) >= journalEntries*3/4 && closed.CompareAndSwap(false, true) {
						close(done)
					}
				case *messages.Flush:
					c.Send(m.ReplyTo, &messages.Flushed{ID: m.ID})
				}
			}))
			start := time.Now()
			src := s.Root.Spawn(actor.PropsFromProducer(journald.New(journald.Config{Name: "units",
				Units: []string{"dream.service"}, Match: "unit", Dir: dir, CheckpointFile: filepath.Join(b.TempDir(), "c"),
				CheckpointInterval: time.Second, MaxMessageBytes: 65536, Dispatcher: sink}, deps(clock.Real{}))))
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("only %d events", events.Load())
			}
			// Three of four messages classify as events; every entry was read.
			b.ReportMetric(float64(journalEntries)/time.Since(start).Seconds(), "entries/s")
			s.Root.StopFuture(src).Wait()
		}
	})
}
