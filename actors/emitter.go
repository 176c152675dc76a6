package actors

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// EmitterConfig sets where and how intents are written.
type EmitterConfig struct {
	Dir          string
	DedupWindow  time.Duration // identical intents within it are written once
	Retention    time.Duration // intents older than this (by name) are pruned
	RetryInitial time.Duration
	RetryMax     time.Duration
	MaxBatch     int           // intents sharing one directory fsync
	PruneEvery   time.Duration // 0: Retention/24, at most 10 min
	DrainTimeout time.Duration // bound on finishing queued writes at stop (0: 5 s)
}

// Emitter writes intents into the orchestrator's queue directory (SPEC §1.1).
//
// Receives: *messages.EmitIntent (encoded and deduplicated in Receive, then
// queued to the writer), *messages.Flush (queued behind the intents before
// it). Sends: *messages.IntentWritten / *messages.IntentDropped to an
// EmitIntent's ReplyTo; *messages.Flushed to a Flush's ReplyTo once every
// intent received before it is durable.
//
// The writer goroutine, owned by the actor, takes everything queued (up to
// MaxBatch), writes and fsyncs each file, renames them and fsyncs the
// directory once for the batch (group commit); only then are the batch's
// requesters answered. A failed write is retried with capped backoff, in
// order, until it succeeds: nothing is lost and no half-written .json ever
// appears. It replies to requesters through the actor system and never
// touches the actor's fields. It also removes stale .tmp files at start and
// prunes old intents when the actor's timer asks.
//
// Releases on Stopping and Restarting: the queue is closed, the writer
// finishes what is queued (bounded by DrainTimeout) and exits; the prune timer
// is cancelled.
type Emitter struct {
	cfg  EmitterConfig
	deps Deps
	log  *slog.Logger

	seen       map[string]time.Time // dedup hash → when written
	lastSweep  time.Time
	jobs       chan emitJob
	done       chan struct{}
	cancel     context.CancelFunc
	stopTimers scheduler.CancelFunc
}

type emitJob struct {
	file    *intentfile.File
	typ     string
	flush   *messages.Flush
	prune   bool
	replyTo *actor.PID
}

type pruneTick struct{}

func (pruneTick) NotInfluenceReceiveTimeout() {}

// NewEmitter returns the emitter's producer.
func NewEmitter(cfg EmitterConfig, deps Deps) actor.Producer {
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 256
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
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
		e.jobs <- emitJob{flush: m}
	case pruneTick:
		e.jobs <- emitJob{prune: true}
	case *GoroutineFailed:
		panic(m.Err)
	default:
		e.log.Debug("unhandled message", "type", typeName(m))
	}
}

func (e *Emitter) start(ctx actor.Context) {
	e.log = e.deps.Logger.With("actor", "emitter")
	if e.seen == nil {
		e.seen = map[string]time.Time{}
	}
	e.jobs = make(chan emitJob, 4*e.cfg.MaxBatch)
	e.done = make(chan struct{})
	wctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	w := &intentWriter{cfg: e.cfg, deps: e.deps, log: e.log, root: ctx.ActorSystem().Root, self: ctx.Self(),
		unparsable: map[string]bool{}}
	go w.run(wctx, e.jobs, e.done)
	e.stopTimers = scheduler.NewTimerScheduler(ctx).SendRepeatedly(e.cfg.PruneEvery, e.cfg.PruneEvery, ctx.Self(), pruneTick{})
	ctx.Send(ctx.Self(), pruneTick{}) // prune once at start
}

func (e *Emitter) release() {
	if e.stopTimers != nil {
		e.stopTimers()
		e.stopTimers = nil
	}
	if e.jobs == nil {
		return
	}
	close(e.jobs)
	select {
	case <-e.done:
	case <-time.After(e.cfg.DrainTimeout):
		e.log.Error("intent writer did not drain before the timeout; abandoning queued intents", "timeout_seconds", e.cfg.DrainTimeout.Seconds())
		e.cancel()
		<-e.done
	}
	e.cancel()
	e.jobs = nil
}

func (e *Emitter) emit(ctx actor.Context, m *messages.EmitIntent) {
	now := e.deps.Clock.Now()
	reply, _ := m.ReplyTo.(*actor.PID)
	enc, err := intentfile.Encode(&m.Intent, now)
	if err != nil {
		e.deps.Metrics.Core.EmitFailures.WithLabelValues("invalid").Inc()
		e.log.Error("intent cannot be encoded, dropping it", "intent_type", m.Intent.Type, "err", err)
		if reply != nil {
			ctx.Send(reply, &messages.IntentDropped{Type: m.Intent.Type, Reason: "invalid: " + err.Error()})
		}
		return
	}
	e.sweep(now)
	if at, dup := e.seen[enc.Dedup]; dup && now.Sub(at) < e.cfg.DedupWindow {
		e.deps.Metrics.Core.IntentsDedup.WithLabelValues(m.Intent.Type).Inc()
		e.log.Debug("identical intent within the dedup window, not written", "intent_type", m.Intent.Type,
			"first_written_seconds_ago", now.Sub(at).Seconds())
		if reply != nil {
			ctx.Send(reply, &messages.IntentDropped{Type: m.Intent.Type, Reason: "duplicate"})
		}
		return
	}
	e.seen[enc.Dedup] = now
	e.jobs <- emitJob{file: &intentfile.File{Name: enc.Name, Body: enc.Body}, typ: m.Intent.Type, replyTo: reply}
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
		}
	}
}

// intentWriter is the emitter's writer goroutine.
type intentWriter struct {
	cfg        EmitterConfig
	deps       Deps
	log        *slog.Logger
	root       *actor.RootContext
	self       *actor.PID
	unparsable map[string]bool
}

func (w *intentWriter) run(ctx context.Context, jobs <-chan emitJob, done chan<- struct{}) {
	defer close(done)
	defer Recover("intent writer", func(f *GoroutineFailed) { w.root.Send(w.self, f) })
	if n, err := intentfile.RemoveStale(w.cfg.Dir); err == nil && n > 0 {
		w.log.Info("removed stale temporary intent files", "count", n, "dir", w.cfg.Dir)
	}
	batch := make([]emitJob, 0, w.cfg.MaxBatch)
	for {
		job, ok := <-jobs
		if !ok {
			return
		}
		batch = append(batch[:0], job)
	fill:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case j, ok := <-jobs:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		if !w.commit(ctx, batch) {
			return
		}
	}
}

// commit makes a batch durable, retrying failures in order, then answers.
// It returns false when ctx was cancelled before everything was written.
func (w *intentWriter) commit(ctx context.Context, batch []emitJob) bool {
	var files []intentfile.File
	var idx []int
	prune := false
	for i, j := range batch {
		switch {
		case j.file != nil:
			files = append(files, *j.file)
			idx = append(idx, i)
		case j.prune:
			prune = true
		}
	}
	delay := w.cfg.RetryInitial
	for attempt := 1; len(files) > 0; attempt++ {
		errs := intentfile.CommitBatch(w.cfg.Dir, files)
		var failed []intentfile.File
		var failedIdx []int
		for k, err := range errs {
			j := batch[idx[k]]
			if err == nil {
				w.deps.Metrics.Core.Intents.WithLabelValues(j.typ).Inc()
				w.log.Info("intent written", "intent_type", j.typ, "file", files[k].Name)
				if j.replyTo != nil {
					w.root.Send(j.replyTo, &messages.IntentWritten{Path: w.cfg.Dir + "/" + files[k].Name, Type: j.typ})
				}
				continue
			}
			w.deps.Metrics.Core.EmitFailures.WithLabelValues(failureReason(err)).Inc()
			if attempt == 1 || attempt%10 == 0 {
				w.log.Error("intent write failed, retrying", "intent_type", j.typ, "attempt", attempt,
					"retry_in_seconds", delay.Seconds(), "err", err)
			}
			failed = append(failed, files[k])
			failedIdx = append(failedIdx, idx[k])
		}
		files, idx = failed, failedIdx
		if len(files) == 0 {
			if attempt > 1 {
				w.log.Info("intent writes recovered", "attempts", attempt)
			}
			break
		}
		select {
		case <-ctx.Done():
			w.log.Error("stopping with intents not written", "count", len(files))
			return false
		case <-time.After(delay):
		}
		delay = min(delay*2, w.cfg.RetryMax)
	}
	for _, j := range batch {
		if j.flush != nil && j.flush.ReplyTo != nil {
			w.root.Send(j.flush.ReplyTo, &messages.Flushed{ID: j.flush.ID})
		}
	}
	if prune {
		w.prune()
	}
	return true
}

func (w *intentWriter) prune() {
	before := w.deps.Clock.Now().Add(-w.cfg.Retention)
	removed, unparsable, err := intentfile.Prune(w.cfg.Dir, before)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.log.Warn("pruning intents failed", "dir", w.cfg.Dir, "err", err)
	}
	if removed > 0 {
		w.deps.Metrics.Core.Pruned.WithLabelValues("intents").Add(float64(removed))
		w.log.Info("pruned old intents", "count", removed, "older_than_seconds", w.cfg.Retention.Seconds())
	}
	for _, n := range unparsable {
		if !w.unparsable[n] {
			w.unparsable[n] = true
			w.log.Warn("file in the intents directory has a name that does not parse; leaving it alone", "file", n)
		}
	}
}

// failureReason names an I/O error for the failures metric.
func failureReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "disk_full"
	case errors.Is(err, syscall.EROFS):
		return "read_only"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission"
	case errors.Is(err, syscall.ENOTDIR):
		return "not_a_directory"
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	}
	return "io"
}
