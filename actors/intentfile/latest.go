package intentfile

import "path/filepath"

// LatestWriter writes, on a goroutine of its own, the latest body it is
// given to one file with the daemon's write protocol (CommitBatch: tmp,
// fsync, rename, directory fsync). A body not yet written when a newer one
// comes is replaced, so a checkpoint (a journal cursor, a file offset, a
// state) costs at most one write in flight and never blocks its actor.
//
// Save is called by one goroutine (the owning actor); Close writes what is
// pending and waits for the goroutine to end (the actor calls it on
// Stopping and Restarting).
type LatestWriter struct {
	ch   chan []byte
	done chan struct{}
}

// NewLatestWriter starts the writer of path. written is told the outcome
// of every write (err nil: durable); it runs on the writer's goroutine.
func NewLatestWriter(path string, written func(err error)) *LatestWriter {
	w := &LatestWriter{ch: make(chan []byte, 1), done: make(chan struct{})}
	dir, name := filepath.Dir(path), filepath.Base(path)
	go func() {
		defer close(w.done)
		for b := range w.ch {
			written(CommitBatch(dir, []File{{Name: name, Body: b}})[0])
		}
	}()
	return w
}

// Save hands over body, replacing one not yet written.
func (w *LatestWriter) Save(body []byte) {
	select {
	case <-w.ch:
	default:
	}
	w.ch <- body
}

// Close writes what is pending and returns once the writer has ended.
func (w *LatestWriter) Close() {
	close(w.ch)
	<-w.done
}
