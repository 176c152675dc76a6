package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/emit"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// benchDirs are where intents are written: a real disk and tmpfs. The disk
// directory is under the repository (never tmpfs on a CI machine).
func benchDirs(b *testing.B) map[string]string {
	disk, err := os.MkdirTemp(".", "disk-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(disk) })
	shm, err := os.MkdirTemp("/dev/shm", "kloros-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(shm) })
	return map[string]string{"disk": disk, "tmpfs": shm}
}

// rawWrite is one intent-sized file made durable on its own: write, fsync,
// rename, fsync the directory — the protocol without group commit.
func rawWrite(b *testing.B, dir string, i int, body []byte) {
	name := filepath.Join(dir, strconv.Itoa(i)+".json")
	f, err := os.OpenFile(name+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(body); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if err := os.Rename(name+".tmp", name); err != nil {
		b.Fatal(err)
	}
	if err := intentfile.SyncDir(dir); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIntentEmission: durable intents/s through the emitter actor
// (group commit: a burst shares one directory fsync, and its file fsyncs run
// together) beside the raw one-at-a-time fsync+rename+fsync(dir) rate,
// measured by the same benchmark in the same run, on disk and on tmpfs.
func BenchmarkIntentEmission(b *testing.B) {
	in := messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "GPU out of memory",
		Data: messages.Object{{Key: "unit", Value: "dream.service"}, {Key: "ratio", Value: 0.5}}}
	enc, err := intentfile.Encode(&in, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for name, dir := range benchDirs(b) {
		b.Run("fs="+name+"/raw", func(b *testing.B) {
			d := filepath.Join(dir, "raw")
			os.MkdirAll(d, 0o700)
			start := time.Now()
			i := 0
			for b.Loop() {
				rawWrite(b, d, i, enc.Body)
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "intents/s")
		})
		b.Run("fs="+name+"/emitter", func(b *testing.B) {
			s := newSystem(b)
			d := filepath.Join(dir, "emitter")
			em := s.Root.Spawn(actor.PropsFromProducer(emit.NewEmitter(emit.EmitterConfig{Dir: d, DedupWindow: time.Hour,
				Retention: 24 * time.Hour, RetryInitial: time.Millisecond, RetryMax: time.Second, MaxBatch: 256},
				deps(clock.Real{}))))
			start := time.Now()
			i := 0
			for b.Loop() {
				m := in
				m.Reason = fmt.Sprintf("GPU out of memory #%d", i) // distinct: no dedup
				s.Root.Send(em, &messages.EmitIntent{Intent: m})
				i++
			}
			waitFlushed(b, s, em, 1)
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "intents/s")
		})
	}
}
