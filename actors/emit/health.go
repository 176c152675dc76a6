package emit

import (
	"fmt"
	"sync"
	"time"
)

// Health is what the emitter's writer knows about whether an intent written
// now would land: failing from the first failed attempt of a write until
// every file in hand is durable again. It outlives emitter restarts (the
// supervision tree makes one) and is read by /readyz, which must not say
// ready while intents wait in memory for a full or read-only directory
// (issue 15 #3). Safe for concurrent use; a nil *Health records nothing.
type Health struct {
	mu      sync.Mutex
	reason  string // "" when the last commit succeeded
	since   time.Time
	pending func() int64
}

func (h *Health) failing(reason string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.reason == "" {
		h.since = time.Now()
	}
	h.reason = reason
	h.mu.Unlock()
}

func (h *Health) ok() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.reason = ""
	h.mu.Unlock()
}

// NotReady returns why an intent written now would not land, or "".
func (h *Health) NotReady() string {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reason == "" {
		return ""
	}
	queued := int64(0)
	if h.pending != nil {
		queued = h.pending()
	}
	return fmt.Sprintf("intent writes failing (%s) for %.0fs, %d intents queued and not draining",
		h.reason, time.Since(h.since).Seconds(), queued)
}

// attach starts a writer's report: not failing (yet), and its queue.
func (h *Health) attach(pending func() int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.reason, h.pending = "", pending
	h.mu.Unlock()
}
