package actors

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"syscall"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// writeJob is one unit of work for a batchWriter: a file to make durable
// (then written is called), a barrier (called once every earlier file is
// durable), or a housekeeping call run between batches.
type writeJob struct {
	file    *intentfile.File
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
}

// run serves jobs until the channel is closed (after finishing what is
// queued) or ctx is cancelled (abandoning it). It closes done on exit.
func (w *batchWriter) run(ctx context.Context, jobs <-chan writeJob, done chan<- struct{}, onPanic func(*GoroutineFailed)) {
	defer close(done)
	defer Recover(w.what+" writer", onPanic)
	batch := make([]writeJob, 0, w.maxBatch)
	for {
		job, ok := <-jobs
		if !ok {
			return
		}
		batch = append(batch[:0], job)
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
		if !w.commit(ctx, batch) {
			return
		}
	}
}

func (w *batchWriter) commit(ctx context.Context, batch []writeJob) bool {
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
			if attempt == 1 || attempt%10 == 0 {
				w.log.Error(w.what+" write failed, retrying", "file", files[k].Name, "attempt", attempt,
					"retry_in_seconds", delay.Seconds(), "err", err)
			}
			failed = append(failed, files[k])
			failedOwners = append(failedOwners, owners[k])
		}
		files, owners = failed, failedOwners
		if len(files) == 0 {
			if attempt > 1 {
				w.log.Info(w.what+" writes recovered", "attempts", attempt)
			}
			break
		}
		select {
		case <-ctx.Done():
			w.log.Error("stopping with "+w.what+"s not written", "count", len(files))
			return false
		case <-time.After(delay):
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
	return true
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

// ownedWriter is a batchWriter's lifecycle inside an actor: started on
// Started, drained on Stopping/Restarting.
type ownedWriter struct {
	jobs   chan writeJob
	done   chan struct{}
	cancel context.CancelFunc
}

func startWriter(w *batchWriter, queue int, onPanic func(*GoroutineFailed)) *ownedWriter {
	ctx, cancel := context.WithCancel(context.Background())
	o := &ownedWriter{jobs: make(chan writeJob, queue), done: make(chan struct{}), cancel: cancel}
	go w.run(ctx, o.jobs, o.done, onPanic)
	return o
}

// drain closes the queue and waits for the writer to finish it, abandoning
// what is left after timeout. It reports whether everything was written.
func (o *ownedWriter) drain(timeout time.Duration) bool {
	close(o.jobs)
	defer o.cancel()
	select {
	case <-o.done:
		return true
	case <-time.After(timeout):
		o.cancel()
		<-o.done
		return false
	}
}
