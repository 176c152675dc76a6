package emit

import (
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/archive"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// Emitter writes intents into the orchestrator's queue directory (SPEC §1.1).
//
// Receives: *messages.EmitIntent (encoded and deduplicated in Receive, then
// queued to the writer), *messages.Flush (queued behind the intents before
// it), writerFreed (from its writer: there is room to queue more). Sends: *messages.IntentWritten / *messages.IntentDropped to an
// EmitIntent's ReplyTo; *messages.Flushed to a Flush's ReplyTo once every
// intent received before it is durable.
//
// Receive never blocks: what does not fit in the writer's channel (4×MaxBatch)
// waits, in order, in an overflow queue in the actor and is handed over as
// the writer takes jobs, so a failing directory never stops the actor from
// answering Touch, Flush or PoisonPill. A Flush waits in the same queue, so
// it is still answered only after everything before it is durable. Past
// MaxQueued waiting intents, new ones are refused (IntentDropped "queue
// full"), counted and logged rather than held without bound.
//
// The writer goroutine, owned by the actor, takes everything queued (up to
// MaxBatch), writes and fsyncs each file, renames them and fsyncs the
// directory once for the batch (group commit); only then are the batch's
// requesters answered. A failed write is retried with capped backoff, in
// order, until it succeeds: nothing is lost and no half-written .json ever
// appears. It replies to requesters through the actor system and never
// touches the actor's fields. It also removes stale .tmp files at start and,
// when the actor's timer asks, archives old intents (archive.Sweep, then the
// archive's retention, archive.Expire).
//
// Releases on Stopping and Restarting: the overflow is handed to the writer,
// the queue closed and the writer finishes it, bounded by DrainTimeout; past
// it the writer is cancelled (its backoff interrupted, never a write in
// progress) and the intents not written are logged with their count and
// types and counted as lost. The prune timer is cancelled.
type Emitter struct {
	cfg  EmitterConfig
	deps actors.Deps
	log  *slog.Logger

	seen       map[string]time.Time // dedup hash → when written
	seen8      map[string]time.Time // hash8 → time, of intents found on disk at start (see dedup.go)
	dirty      bool                 // seen changed since the last checkpoint was queued
	lastSweep  time.Time
	writer     *ownedWriter
	root       *actor.RootContext
	unparsable map[string]bool  // touched only by the writer goroutine (prune chore)
	archive    *archive.Archive // used only by the writer goroutine (prune chore)
	stopTimers timer.Cancel
}

type pruneTick struct{}
type dedupTick struct{}

func (dedupTick) NotInfluenceReceiveTimeout() {}

func (pruneTick) NotInfluenceReceiveTimeout() {}

// NewEmitter returns the emitter's producer.
func NewEmitter(cfg EmitterConfig, deps actors.Deps) actor.Producer {
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 256
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.DedupSaveEvery <= 0 {
		cfg.DedupSaveEvery = time.Second
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = min(cfg.Retention/24, 10*time.Minute)
		if cfg.PruneEvery <= 0 {
			cfg.PruneEvery = 10 * time.Minute
		}
	}
	return func() actor.Actor { return &Emitter{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (e *Emitter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.start(ctx)
	case *actor.Stopping:
		e.release()
	case *actor.Restarting:
		e.release()
	case *messages.EmitIntent:
		e.emit(ctx, m)
	case *messages.Flush:
		e.writer.submit(writeJob{barrier: func() { e.root.Send(m.ReplyTo, &messages.Flushed{ID: m.ID}) }})
	case writerFreed:
		if e.writer != nil {
			e.writer.pump()
		}
	case dedupTick:
		e.queueDedupSave()
	case pruneTick:
		if e.writer.waiting() == 0 { // else the writer is behind: prune next time
			e.writer.submit(writeJob{chore: e.prune})
		}
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(e.log, m)
	}
}

func (e *Emitter) start(ctx actor.Context) {
	e.log = e.deps.Logger.With("actor", "emitter")
	now := e.deps.Clock.Now()
	seen, err := loadDedup(e.cfg.DedupFile, e.cfg.DedupWindow, now)
	if err != nil {
		e.log.Warn("cannot read the dedup checkpoint; starting from the intents on disk", "file", e.cfg.DedupFile, "err", err)
	}
	e.seen, e.seen8 = seen, queuedHashes(e.cfg.Dir, e.cfg.DedupWindow, now)
	if len(seen)+len(e.seen8) > 0 {
		e.log.Info("dedup restored", "from_checkpoint", len(seen), "from_intents_on_disk", len(e.seen8))
	}
	e.root = ctx.ActorSystem().Root
	e.unparsable = map[string]bool{}
	ac := e.cfg.Archive
	ac.Resolve(filepath.Dir(e.cfg.Dir))
	e.archive = archive.New(ac)
	self := ctx.Self()
	bw := &batchWriter{dir: e.cfg.Dir, what: "intent", maxBatch: e.cfg.MaxBatch, health: e.cfg.Health,
		retryInitial: e.cfg.RetryInitial, retryMax: e.cfg.RetryMax, log: e.log,
		failed: func(reason string) { e.deps.Metrics.Core.EmitFailures.WithLabelValues(reason).Inc() }}
	bound := queueBound{max: e.cfg.MaxQueued, lost: e.deps.Metrics.Core.IntentsLost, queued: e.deps.Metrics.Core.IntentsQueued}
	e.writer = startWriter(bw, 4*e.cfg.MaxBatch, bound, func() { e.root.Send(self, writerFreed{}) },
		func(f *actors.GoroutineFailed) { e.root.Send(self, f) })
	e.cfg.Health.attach(e.writer.pending.Load)
	e.writer.submit(writeJob{chore: func() { e.removeStale(); e.prune() }}) // before any write
	stopPrune := timer.Every(ctx.ActorSystem(), e.cfg.PruneEvery, e.cfg.PruneEvery, self, pruneTick{})
	stopDedup := func() {}
	if e.cfg.DedupFile != "" {
		stopDedup = timer.Every(ctx.ActorSystem(), e.cfg.DedupSaveEvery, e.cfg.DedupSaveEvery, self, dedupTick{})
	}
	e.stopTimers = func() { stopPrune(); stopDedup() }
}

func (e *Emitter) release() {
	if e.stopTimers != nil {
		e.stopTimers()
		e.stopTimers = nil
	}
	if e.writer == nil {
		return
	}
	lost := e.writer.stop(e.cfg.DrainTimeout)
	e.writer = nil
	// The final checkpoint names only durable intents: with some lost at
	// the drain timeout, the last one queued (all durable) stands.
	if e.cfg.DedupFile != "" && e.dirty && lost == 0 {
		if err := saveDedup(e.cfg.DedupFile, encodeDedup(e.seen)); err != nil {
			e.log.Error("cannot write the dedup checkpoint", "file", e.cfg.DedupFile, "err", err)
		}
		e.dirty = false
	}
}

// queueDedupSave queues a checkpoint of seen behind the intents offered so
// far: the writer runs it once they are all durable.
func (e *Emitter) queueDedupSave() {
	if !e.dirty || e.writer == nil {
		return
	}
	e.dirty = false
	body, path, log := encodeDedup(e.seen), e.cfg.DedupFile, e.log
	e.writer.submit(writeJob{chore: func() {
		if err := saveDedup(path, body); err != nil {
			log.Error("cannot write the dedup checkpoint", "file", path, "err", err)
		}
	}})
}

func (e *Emitter) emit(ctx actor.Context, m *messages.EmitIntent) {
	now := e.deps.Clock.Now()
	reply, _ := m.ReplyTo.(*actor.PID)
	enc, err := intentfile.Encode(&m.Intent, now)
	if err != nil {
		e.deps.Metrics.Core.EmitFailures.WithLabelValues("invalid").Inc()
		e.log.Error("intent cannot be encoded, dropping it", "intent_type", m.Intent.Type, "err", err)
		e.observe(now, messages.IntentOutcomeFailed, &m.Intent, "", "invalid: "+err.Error())
		if reply != nil {
			ctx.Send(reply, &messages.IntentDropped{Type: m.Intent.Type, Reason: "invalid: " + err.Error()})
		}
		return
	}
	e.sweep(now)
	at, dup := e.seen[enc.Dedup]
	dup = dup && now.Sub(at) < e.cfg.DedupWindow
	if !dup && len(e.seen8) > 0 { // an identical intent already on disk at start
		at, dup = e.seen8[enc.Dedup[:8]]
		dup = dup && now.Sub(at) < e.cfg.DedupWindow
	}
	if dup {
		e.deps.Metrics.Core.IntentsDedup.WithLabelValues(m.Intent.Type).Inc()
		e.log.Debug("identical intent within the dedup window, not written", "intent_type", m.Intent.Type,
			"first_written_seconds_ago", now.Sub(at).Seconds())
		e.observe(now, messages.IntentOutcomeDeduplicated, &m.Intent, "", "")
		if reply != nil {
			ctx.Send(reply, &messages.IntentDropped{Type: m.Intent.Type, Reason: "duplicate"})
		}
		return
	}
	typ, path := m.Intent.Type, filepath.Join(e.cfg.Dir, enc.Name)
	in := m.Intent
	if !e.writer.offer(writeJob{file: &intentfile.File{Name: enc.Name, Body: enc.Body}, kind: typ, written: func() {
		e.deps.Metrics.Core.Intents.WithLabelValues(typ).Inc()
		e.log.Info("intent written", "intent_type", typ, "file", path)
		e.observe(e.deps.Clock.Now(), messages.IntentOutcomeWritten, &in, path, "")
		if reply != nil {
			e.root.Send(reply, &messages.IntentWritten{Path: path, Type: typ})
		}
	}}) {
		// Refused (MaxQueued intents wait): not remembered as seen, so a
		// repeat may get through later.
		e.observe(now, messages.IntentOutcomeFailed, &m.Intent, "", "queue full")
		if reply != nil {
			ctx.Send(reply, &messages.IntentDropped{Type: typ, Reason: "queue full"})
		}
		return
	}
	e.seen[enc.Dedup] = now
	e.dirty = true
}

// observe publishes what became of an intent on the observation stream. It
// is called from the writer goroutine too (written), which only reads the
// immutable config and deps.
func (e *Emitter) observe(at time.Time, outcome string, in *messages.Intent, path, why string) {
	if !e.deps.Stream.Wants(observe.Intents) {
		return
	}
	e.deps.Stream.Publish(&messages.IntentObserved{At: at, Outcome: outcome, Type: in.Type, Priority: in.Priority,
		Reason: in.Reason, Path: path, Why: why})
}

// sweep forgets dedup entries older than the window, at most once a minute,
// so the map stays as small as the last hour's distinct intents.
func (e *Emitter) sweep(now time.Time) {
	if now.Sub(e.lastSweep) < time.Minute {
		return
	}
	e.lastSweep = now
	for k, at := range e.seen {
		if now.Sub(at) >= e.cfg.DedupWindow {
			delete(e.seen, k)
			e.dirty = true
		}
	}
	for k, at := range e.seen8 {
		if now.Sub(at) >= e.cfg.DedupWindow {
			delete(e.seen8, k)
		}
	}
}

// removeStale and prune run on the writer goroutine (as chores), so they
// never race with a write.
func (e *Emitter) removeStale() {
	if n, err := intentfile.RemoveStale(e.cfg.Dir); err == nil && n > 0 {
		e.log.Info("removed stale temporary intent files", "count", n, "dir", e.cfg.Dir)
	}
}

func (e *Emitter) prune() {
	now := e.deps.Clock.Now()
	res, err := e.archive.Sweep(e.cfg.Dir, now.Add(-e.cfg.Retention), now, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if !errors.Is(err, archive.ErrQueue) { // the queue dir's own trouble is counted by the writes
			e.deps.Metrics.Core.EmitFailures.WithLabelValues("archive").Inc()
		}
		e.log.Warn("archiving old intents failed; they stay in the queue until the next try", "dir", e.cfg.Dir, "err", err)
	}
	if n := len(res.Archived); n > 0 {
		e.deps.Metrics.Core.Pruned.WithLabelValues("intents").Add(float64(n))
		e.log.Info("archived old intents", "count", n, "archive_file", res.ArchiveFile, "older_than_seconds", e.cfg.Retention.Seconds())
	}
	for _, q := range res.Quarantined {
		e.deps.Metrics.Core.Pruned.WithLabelValues("intents_quarantined").Inc()
		e.log.Warn("old intent fails verification; moved to quarantine", "file", q.File, "quarantine", q.Path, "reason", q.Reason)
	}
	expired, err := e.archive.Expire(now, false)
	if err != nil {
		e.log.Warn("removing archive day files past retention failed", "dir", e.archive.Config().Dir, "err", err)
	}
	if len(expired) > 0 {
		e.deps.Metrics.Core.Pruned.WithLabelValues("archive_days").Add(float64(len(expired)))
		e.log.Info("removed archive day files past retention or size", "files", expired)
	}
	for _, n := range res.Unparsable {
		if !e.unparsable[n] {
			e.unparsable[n] = true
			e.log.Warn("file in the intents directory has a name that does not parse; leaving it alone", "file", n)
		}
	}
}
