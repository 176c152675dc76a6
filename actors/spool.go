package actors

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// SpoolConfig sets raw event spooling.
type SpoolConfig struct {
	Dir          string
	Retention    time.Duration
	RetryInitial time.Duration
	RetryMax     time.Duration
	MaxBatch     int
	DrainTimeout time.Duration
}

// Spool writes every event a source produces (before dedup) to
// Dir/{ts_ms}_{source}_{type}_{seq}.json as {"source","type","ts","data"},
// atomically (tmp, fsync, rename, one directory fsync per burst). seq keeps
// names unique within a millisecond. Files older than Retention are pruned.
//
// Receives: *messages.Event, *messages.EventBatch (from the dispatcher),
// *messages.Flush (answered with Flushed once every earlier event is
// durable). Its writer goroutine (shared design with the emitter) is drained
// on Stopping and Restarting; its prune timer cancelled.
type Spool struct {
	cfg    SpoolConfig
	deps   Deps
	log    *slog.Logger
	writer *ownedWriter
	root   *actor.RootContext
	stop   scheduler.CancelFunc
	lastMS int64
	seq    int
}

// NewSpool returns the spool's producer.
func NewSpool(cfg SpoolConfig, deps Deps) actor.Producer {
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 256
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	return func() actor.Actor { return &Spool{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (s *Spool) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.log = s.deps.Logger.With("actor", "spool")
		s.root = ctx.ActorSystem().Root
		self := ctx.Self()
		bw := &batchWriter{dir: s.cfg.Dir, what: "event", maxBatch: s.cfg.MaxBatch,
			retryInitial: s.cfg.RetryInitial, retryMax: s.cfg.RetryMax, log: s.log,
			failed: func(string) { s.deps.Metrics.Core.SpoolFailures.Inc() }}
		s.writer = startWriter(bw, 4*s.cfg.MaxBatch, queueBound{}, nil, func(f *GoroutineFailed) { s.root.Send(self, f) })
		s.writer.jobs <- writeJob{chore: func() { intentfile.RemoveStale(s.cfg.Dir); s.prune() }}
		every := min(s.cfg.Retention/24, time.Hour)
		s.stop = scheduler.NewTimerScheduler(ctx).SendRepeatedly(every, every, self, pruneTick{})
	case *actor.Stopping, *actor.Restarting:
		if s.stop != nil {
			s.stop()
			s.stop = nil
		}
		if s.writer != nil {
			if left := s.writer.drain(s.cfg.DrainTimeout); len(left) > 0 {
				s.log.Error("spool writer did not drain before the timeout; events not spooled", "count", len(left),
					"timeout_seconds", s.cfg.DrainTimeout.Seconds())
			}
		}
		s.writer = nil
	case *messages.Event:
		s.spool(m)
	case *messages.EventBatch:
		for _, ev := range m.Events {
			s.spool(ev)
		}
	case *messages.Flush:
		s.writer.jobs <- writeJob{barrier: func() { s.root.Send(m.ReplyTo, &messages.Flushed{ID: m.ID}) }}
	case pruneTick:
		s.writer.jobs <- writeJob{chore: s.prune}
	case *GoroutineFailed:
		panic(m.Err)
	default:
		unhandled(s.log, m)
	}
}

func (s *Spool) spool(ev *messages.Event) {
	ts := ev.TS
	if ts.IsZero() {
		ts = s.deps.Clock.Now()
	}
	ms := s.deps.Clock.Now().UnixMilli()
	if ms == s.lastMS {
		s.seq++
	} else {
		s.lastMS, s.seq = ms, 0
	}
	body, err := intentfile.Marshal(messages.Object{
		{Key: "source", Value: ev.Source}, {Key: "type", Value: ev.Type},
		{Key: "ts", Value: intentfile.Epoch(ts)}, {Key: "data", Value: plainData(ev.Data)},
	})
	if err != nil {
		s.deps.Metrics.Core.SpoolFailures.Inc()
		s.log.Error("event cannot be spooled", "source", ev.Source, "type", ev.Type, "err", err)
		return
	}
	name := fmt.Sprintf("%d_%s_%s_%06d.json", ms, intentfile.SanitizeType(ev.Source), intentfile.SanitizeType(ev.Type), s.seq)
	if cur, ok := ev.Data["cursor"].(string); ok && cur != "" {
		// A journal entry re-read after a crash (its cursor was not yet
		// checkpointed) lands on the same name: spooled exactly once.
		sum := sha256.Sum256([]byte(cur))
		name = fmt.Sprintf("%d_%s_%s_%x.json", ts.UnixMilli(), intentfile.SanitizeType(ev.Source), intentfile.SanitizeType(ev.Type), sum[:6])
	}
	s.writer.jobs <- writeJob{file: &intentfile.File{Name: name, Body: body}}
}

// plainData makes event data writable: values of types the Python-form
// encoder does not know are passed through encoding/json.
func plainData(d map[string]any) any {
	if d == nil {
		return map[string]any{}
	}
	if _, err := intentfile.Marshal(d); err == nil {
		return d
	}
	b, err := json.Marshal(d)
	if err != nil {
		return map[string]any{"unencodable": err.Error()}
	}
	var out map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

// prune removes spooled events older than Retention (by the time in the name).
func (s *Spool) prune() {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot list the spool directory", "dir", s.cfg.Dir, "err", err)
		}
		return
	}
	before := s.deps.Clock.Now().Add(-s.cfg.Retention).UnixMilli()
	removed := 0
	for _, e := range entries {
		name := e.Name()
		i := strings.IndexByte(name, '_')
		if i <= 0 || !strings.HasSuffix(name, ".json") {
			continue
		}
		ms, err := strconv.ParseInt(name[:i], 10, 64)
		if err == nil && ms < before && os.Remove(filepath.Join(s.cfg.Dir, name)) == nil {
			removed++
		}
	}
	if removed > 0 {
		s.deps.Metrics.Core.Pruned.WithLabelValues("events").Add(float64(removed))
		s.log.Info("pruned old spooled events", "count", removed)
	}
}
