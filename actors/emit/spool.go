package emit

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

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// Spool writes every event a source produces (before dedup) to
// Dir/{ts_ms}_{source}_{type}_{seq}.json as {"source","type","ts","data"},
// atomically (tmp, fsync, rename, one directory fsync per burst). seq keeps
// names unique within a millisecond. Files older than Retention are pruned.
//
// Receives: *messages.EventsObserved (it subscribes to the observation
// stream's events, duplicates included, as a barrier subscriber),
// *messages.Flush (answered with Flushed once every earlier event it accepted
// is durable), writerFreed (from its writer: there is room to queue more).
//
// It shares the emitter's writer (ownedWriter), so Receive never blocks: what
// does not fit in the writer's channel (4×MaxBatch) waits, in order, in an
// overflow queue in the actor and is handed over as the writer takes jobs. A
// failing events directory (full, deleted, replaced by a file) is retried
// with capped backoff while the spool keeps answering Touch, Flush and
// PoisonPill. A Flush waits in the same queue, so it is answered only after
// everything before it is durable: the journald sources checkpoint their
// cursor on that answer. Past MaxQueued waiting events, new ones are not
// spooled (they still reach the rules), counted as lost (queue_full) and
// logged; a Flush behind them is still answered, so a journald checkpoint
// can then pass an event that was refused.
//
// Releases on Stopping and Restarting: the overflow is handed to the writer,
// which finishes it within DrainTimeout; past it the writer's backoff is
// cancelled and the events not written are logged with their count and
// types and counted as lost (shutdown). The prune timer is cancelled.
type Spool struct {
	cfg    SpoolConfig
	deps   actors.Deps
	log    *slog.Logger
	writer *ownedWriter
	root   *actor.RootContext
	stop   timer.Cancel
	lastMS int64
	seq    int
}

// NewSpool returns the spool's producer.
func NewSpool(cfg SpoolConfig, deps actors.Deps) actor.Producer {
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 256
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	return func() actor.Actor { return &Spool{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (s *Spool) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.release()
	case *messages.EventsObserved:
		for _, oe := range m.Events {
			s.spool(oe.Event)
		}
	case *messages.Flush:
		s.writer.submit(writeJob{barrier: func() { s.root.Send(m.ReplyTo, &messages.Flushed{ID: m.ID}) }})
	case writerFreed:
		if s.writer != nil {
			s.writer.pump()
		}
	case pruneTick:
		if s.writer.waiting() == 0 { // else the writer is behind: prune next time
			s.writer.submit(writeJob{chore: s.prune})
		}
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(s.log, m)
	}
}

func (s *Spool) start(ctx actor.Context) {
	s.log = s.deps.Logger.With("actor", "spool")
	s.root = ctx.ActorSystem().Root
	self := ctx.Self()
	core := s.deps.Metrics.Core
	bw := &batchWriter{dir: s.cfg.Dir, what: "event", maxBatch: s.cfg.MaxBatch,
		retryInitial: s.cfg.RetryInitial, retryMax: s.cfg.RetryMax, log: s.log,
		failed: func(string) { core.SpoolFailures.Inc() }}
	s.writer = startWriter(bw, 4*s.cfg.MaxBatch, queueBound{max: s.cfg.MaxQueued, lost: core.SpoolLost, queued: core.SpoolQueued},
		func() { s.root.Send(self, writerFreed{}) }, func(f *actors.GoroutineFailed) { s.root.Send(self, f) })
	s.writer.submit(writeJob{chore: func() { intentfile.RemoveStale(s.cfg.Dir); s.prune() }}) // before any write
	every := min(s.cfg.Retention/24, time.Hour)
	s.stop = timer.Every(ctx.ActorSystem(), every, every, self, pruneTick{})
}

func (s *Spool) release() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	if s.writer != nil {
		s.writer.stop(s.cfg.DrainTimeout)
		s.writer = nil
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
	s.writer.offer(writeJob{file: &intentfile.File{Name: name, Body: body}, kind: ev.Type}) // refused: counted and logged
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
