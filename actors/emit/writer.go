package emit

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// writeJob is one unit of work for a batchWriter: a file to make durable
// (then written is called), a barrier (called once every earlier file is
// durable), or a housekeeping call run between batches.
type writeJob struct {
	file    *intentfile.File
	kind    string // the file's intent or event type, to report it if it is never written
	written func()
	barrier func()
	chore   func()
}

// batchWriter is the writer goroutine shared by the emitter and the spool:
// it takes everything queued (up to maxBatch), commits it with one directory
// fsync (intentfile.CommitBatch), retries failures in order with capped
// backoff until they succeed, and only then runs the batch's callbacks.
type batchWriter struct {
	dir          string
	what         string // "intent" or "event", for logs
	maxBatch     int
	retryInitial time.Duration
	retryMax     time.Duration
	log          *slog.Logger
	failed       func(reason string) // counts one failed attempt
	health       *Health             // nil: not reported (the spool)
}

// run serves jobs until the channel is closed (after finishing what is
// queued) or ctx is cancelled. Cancelling interrupts the wait for a job and
// the backoff between attempts (never a write in progress, so no half-written
// file is left); the files of the batch in hand that were not written are
// returned, for the owner to report. taken is called each time jobs have been
// taken off the channel, i.e. when it has room again.
func (w *batchWriter) run(ctx context.Context, jobs <-chan writeJob, taken func()) (left []writeJob) {
	batch := make([]writeJob, 0, w.maxBatch)
	for {
		select {
		case job, ok := <-jobs:
			if !ok {
				return nil
			}
			batch = append(batch[:0], job)
		case <-ctx.Done():
			return nil
		}
	fill:
		for len(batch) < w.maxBatch {
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
		taken()
		if left := w.commit(ctx, batch); left != nil {
			return left
		}
	}
}

// commit makes the batch's files durable, retrying failures in order until
// they succeed, then runs its barriers and chores. It returns nil, or, when
// ctx is cancelled during a backoff, the jobs whose files were not written.
func (w *batchWriter) commit(ctx context.Context, batch []writeJob) []writeJob {
	var files []intentfile.File
	var owners []*writeJob
	for i := range batch {
		if batch[i].file != nil {
			files = append(files, *batch[i].file)
			owners = append(owners, &batch[i])
		}
	}
	delay := w.retryInitial
	for attempt := 1; len(files) > 0; attempt++ {
		errs := intentfile.CommitBatch(w.dir, files)
		var failed []intentfile.File
		var failedOwners []*writeJob
		for k, err := range errs {
			if err == nil {
				if owners[k].written != nil {
					owners[k].written()
				}
				continue
			}
			w.failed(failureReason(err))
			w.health.failing(failureReason(err))
			if attempt == 1 || attempt%10 == 0 {
				w.log.Error(w.what+" write failed, retrying", "file", files[k].Name, "attempt", attempt,
					"retry_in_seconds", delay.Seconds(), "err", err)
			}
			failed = append(failed, files[k])
			failedOwners = append(failedOwners, owners[k])
		}
		files, owners = failed, failedOwners
		if len(files) == 0 {
			w.health.ok()
			if attempt > 1 {
				w.log.Info(w.what+" writes recovered", "attempts", attempt)
			}
			break
		}
		backoff := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			backoff.Stop()
			left := make([]writeJob, len(owners))
			for i, o := range owners {
				left[i] = *o
			}
			return left
		case <-backoff.C:
		}
		delay = min(delay*2, w.retryMax)
	}
	for _, j := range batch {
		if j.barrier != nil {
			j.barrier()
		}
		if j.chore != nil {
			j.chore()
		}
	}
	return nil
}

// failureReason names an I/O error for the failures metrics.
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

// queueBound bounds an ownedWriter's overflow and counts the files it
// refuses or loses; shared by the emitter (intents) and the spool (events).
type queueBound struct {
	max    int                    // file jobs the overflow may hold; past it offer refuses
	lost   *prometheus.CounterVec // by reason: queue_full (refused), shutdown (not written at stop)
	queued prometheus.Gauge       // files accepted and not yet durable
}

// writerFreed is sent by an ownedWriter's goroutine to its actor when it has
// taken jobs off its channel while the overflow was not empty: the actor then
// calls pump. Undroppable: losing it would leave the overflow waiting for the
// next job.
type writerFreed struct{}

func (writerFreed) NotInfluenceReceiveTimeout() {}
func (writerFreed) Undroppable()                {}

// ownedWriter is a batchWriter's lifecycle inside an actor: started on
// Started, stopped on Stopping/Restarting.
//
// The actor hands files over with offer and barriers and chores with submit;
// neither blocks: what does not fit in the channel waits, in order, in an
// overflow queue owned by the actor (touched only on its goroutine), and pump
// moves it on as the writer makes room. So a failing directory backs jobs up
// in memory instead of blocking Receive, and a barrier is still run only once
// every file before it is durable. When the overflow is not empty the writer
// calls freed (from its goroutine: it must only send the actor a message,
// writerFreed) once it has taken jobs off the channel, and the actor then
// calls pump. Past bound.max waiting files, offer refuses new ones.
type ownedWriter struct {
	w      *batchWriter
	bound  queueBound
	jobs   chan writeJob
	done   chan struct{}
	cancel context.CancelFunc
	left   []writeJob // written by the writer goroutine before done is closed

	overflow []writeJob // actor-owned; overflow[head:] are waiting
	head     int
	files    int // file jobs among overflow[head:]
	refused  int // files refused since the overflow last had room (one episode)
	// pending counts the files accepted by offer and not yet durable (nor
	// given up at stop), wherever they are: overflow, channel or the
	// writer's batch in hand. bound.max bounds it, so the bound holds
	// whatever the channel's and the batch's sizes.
	pending   atomic.Int64
	wantFreed atomic.Bool // set by the actor, cleared by the writer when it calls freed
}

// startWriter starts w's goroutine. freed may be nil (the owner then relies
// on later submits to pump); onPanic reports a panic to the actor.
func startWriter(w *batchWriter, queue int, bound queueBound, freed func(), onPanic func(*actors.GoroutineFailed)) *ownedWriter {
	ctx, cancel := context.WithCancel(context.Background())
	o := &ownedWriter{w: w, bound: bound, jobs: make(chan writeJob, queue), done: make(chan struct{}), cancel: cancel}
	taken := func() {
		if o.wantFreed.CompareAndSwap(true, false) && freed != nil {
			freed()
		}
	}
	go func() {
		defer close(o.done)
		defer actors.Recover(w.what+" writer", onPanic)
		o.left = w.run(ctx, o.jobs, taken)
	}()
	return o
}

// offer hands the file job j to the writer like submit and counts it as
// queued until it is durable, unless bound.max files accepted earlier are
// not yet durable (in the overflow, the channel or the writer's hands): then
// j is refused (counted as lost, reason queue_full; logged at
// the first refusal of an episode and every 1000th) and offer returns false.
func (o *ownedWriter) offer(j writeJob) bool {
	if o.pending.Load() >= int64(o.bound.max) {
		o.refused++
		o.bound.lost.WithLabelValues("queue_full").Inc()
		if o.refused == 1 || o.refused%1000 == 0 {
			what := o.w.what
			o.w.log.Error(what+" queue full while the "+what+"s directory fails; refusing new "+what+"s", "count", o.refused,
				"queued", o.pending.Load(), "max_queued", o.bound.max, what+"_type", j.kind, "dir", o.w.dir)
		}
		return false
	}
	queued, written := o.bound.queued, j.written
	queued.Inc()
	o.pending.Add(1)
	j.written = func() {
		o.pending.Add(-1) // on the writer goroutine
		queued.Dec()
		if written != nil {
			written()
		}
	}
	o.submit(j)
	return true
}

// submit hands j to the writer, or queues it behind the overflow. It never
// blocks. Files go through offer, which bounds them.
func (o *ownedWriter) submit(j writeJob) {
	if o.pump() {
		select {
		case o.jobs <- j:
			return
		default:
		}
	}
	o.overflow = append(o.overflow, j)
	if j.file != nil {
		o.files++
	}
	o.wantFreed.Store(true) // before the writer can next take jobs: see pump
}

// pump moves overflow into the channel while it has room, and reports
// whether the overflow is empty (which ends a refusal episode, if any).
// wantFreed is set before each attempt, so a send that fails on a full
// channel is always followed by the writer taking jobs off it and calling
// freed.
func (o *ownedWriter) pump() bool {
	for o.head < len(o.overflow) {
		o.wantFreed.Store(true)
		select {
		case o.jobs <- o.overflow[o.head]:
			if o.overflow[o.head].file != nil {
				o.files--
			}
			o.overflow[o.head] = writeJob{}
			o.head++
		default:
			return false
		}
	}
	o.overflow, o.head = o.overflow[:0], 0
	if cap(o.overflow) > 4096 {
		o.overflow = nil // give a burst's memory back
	}
	if o.refused > 0 {
		what := o.w.what
		o.w.log.Warn(what+" queue has room again; "+what+"s were refused while it was full", "count", o.refused)
		o.refused = 0
	}
	return true
}

// waiting is how many jobs wait in the overflow (not yet in the channel).
func (o *ownedWriter) waiting() int { return len(o.overflow) - o.head }

// stop finishes the writer (see drain) and reports what it could not write:
// the files not written are logged once with their count and kinds, counted
// as lost (reason shutdown) and no longer as queued. It returns how many.
func (o *ownedWriter) stop(timeout time.Duration) (lost int) {
	what := o.w.what
	if o.refused > 0 {
		o.w.log.Error("stopping; "+what+"s were refused while the queue was full", "count", o.refused)
		o.refused = 0
	}
	left := o.drain(timeout)
	if len(left) == 0 {
		return 0
	}
	kinds := map[string]int{}
	for _, j := range left {
		kinds[j.kind]++
	}
	o.bound.lost.WithLabelValues("shutdown").Add(float64(len(left)))
	o.bound.queued.Sub(float64(len(left)))
	o.pending.Add(-int64(len(left)))
	o.w.log.Error(what+"s not written before the drain timeout; they are lost", "count", len(left),
		what+"_types", actors.CountsByName(kinds), "timeout_seconds", timeout.Seconds(), "dir", o.w.dir)
	return len(left)
}

// drain hands the overflow to the writer, closes the queue and waits for the
// writer to finish it. After timeout it cancels the writer (interrupting its
// backoff) and returns every file job that was not written: the writer's
// batch in hand, what was left in the channel and the overflow, in order.
func (o *ownedWriter) drain(timeout time.Duration) (left []writeJob) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	defer o.cancel()
	timedOut := false
feed:
	for o.head < len(o.overflow) {
		select {
		case o.jobs <- o.overflow[o.head]:
			o.head++
		case <-o.done: // the writer died (it panicked)
			break feed
		case <-deadline.C:
			timedOut = true
			break feed
		}
	}
	close(o.jobs)
	if !timedOut {
		select {
		case <-o.done:
		case <-deadline.C:
		}
	}
	o.cancel()
	<-o.done
	left = append(left, o.left...)
	for j := range o.jobs {
		left = append(left, j)
	}
	left = append(left, o.overflow[o.head:]...)
	o.overflow, o.head, o.files = nil, 0, 0
	files := left[:0]
	for _, j := range left {
		if j.file != nil {
			files = append(files, j)
		}
	}
	return files
}
