package heartbeat

import (
	"container/heap"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/timer"
)

// deadlines keeps every watcher's deadline under one Go timer and one
// goroutine, instead of one protoactor receive timeout (a Go timer whose
// expiry starts a goroutine, which then schedules the watcher's mailbox on
// another) per watcher. When thousands of zooids expire in the same instant,
// this goroutine pops them in deadline order and delivers each
// *deadlinePassed directly; watchers run on a synchronized dispatcher, so the
// delivery runs the watcher inline — no goroutine is started per expiry.
//
// Each watcher still owns its deadline: it arms it (for lastBeat+threshold,
// or a retry), and only its latest arming counts — an entry whose generation
// is not the slot's current one is dropped when popped.
//
// Heartbeats do not re-arm anything (see HeartbeatWatcher), so most entries
// are stale: the zooid beat since and its natural deadline (slot.natural:
// last heartbeat + threshold) is later. Waking a watcher only for it to
// re-arm is what the watcher would do, so this goroutine does it itself: a
// due entry whose natural deadline is still ahead is moved there, and once a
// second, entries due within the next two seconds are moved ahead early. A
// healthy colony therefore costs about one wake-up a second, however many
// zooids, instead of one per zooid per threshold.
type deadlines struct {
	root *actor.RootContext
	clk  clock.Clock // its time, and its timer's (clock.NewTimer)

	mu   sync.Mutex
	h    deadlineHeap
	next int64 // monotonic ns the loop will wake at; 0: idle

	wake     chan struct{}
	done     chan struct{}
	exit     chan struct{}
	stopOnce sync.Once
	// idleAt is the time (ns since clock.Base) up to which every due
	// deadline has been delivered, stored each time the goroutine parks:
	// a test that moved a fake clock waits for it (see settle in tests).
	idleAt atomic.Int64
}

// deadlineSlot is one watcher's handle: its PID and its arming generation.
type deadlineSlot struct {
	pid atomic.Pointer[actor.PID]
	gen atomic.Uint64
	// natural, if set, returns the deadline the watcher would re-arm for
	// now (monotonic ns since clock.Base); it must be safe to call from the
	// deadline goroutine.
	natural func() int64
}

// deadlinePassed is delivered to a watcher when the deadline it armed with
// generation gen has passed.
type deadlinePassed struct{ gen uint64 }

type deadlineEntry struct {
	at   int64 // monotonic ns since clock.Base
	gen  uint64
	slot *deadlineSlot
}

type deadlineHeap []deadlineEntry

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadlineEntry)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = deadlineEntry{}
	*h = old[:len(old)-1]
	return e
}

func startDeadlines(root *actor.RootContext, clk clock.Clock, report func(*actors.GoroutineFailed)) *deadlines {
	if clk == nil {
		clk = clock.Real{}
	}
	d := &deadlines{root: root, clk: clk, wake: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{})}
	d.idleAt.Store(math.MinInt64)
	go func() {
		defer close(d.exit)
		defer actors.Recover("deadline timer", report)
		d.run()
	}()
	return d
}

// arm sets slot's deadline to at, replacing any earlier arming.
func (d *deadlines) arm(slot *deadlineSlot, at time.Time) {
	g := slot.gen.Add(1)
	n := int64(at.Sub(clock.Base))
	d.mu.Lock()
	heap.Push(&d.h, deadlineEntry{at: n, gen: g, slot: slot})
	wake := d.next == 0 || n < d.next
	if wake {
		d.next = n
	}
	d.mu.Unlock()
	if wake {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// disarm cancels slot's deadline.
func (d *deadlines) disarm(slot *deadlineSlot) { slot.gen.Add(1) }

// current reports whether gen is slot's latest arming.
func (slot *deadlineSlot) current(gen uint64) bool { return slot.gen.Load() == gen }

// stop ends the goroutine; arming after it is harmless (nothing fires).
// Calling it again is harmless too.
func (d *deadlines) stop() {
	d.stopOnce.Do(func() { close(d.done) })
	<-d.exit
}

// refreshEvery and refreshAhead: how often stale entries are moved ahead,
// and how far ahead of now they are looked for (more than refreshEvery, so
// none comes due between two refreshes).
const (
	refreshEvery = time.Second
	refreshAhead = 2 * time.Second
)

func (d *deadlines) run() {
	t := clock.NewTimer(d.clk, time.Hour)
	defer t.Stop()
	var due, keep []deadlineEntry
	nextRefresh := int64(math.MinInt64)
	for {
		d.mu.Lock()
		now := int64(d.clk.Now().Sub(clock.Base))
		if len(d.h) > 0 && now >= nextRefresh {
			keep = d.refresh(now, keep[:0])
			// On the process's 1 s grid, with its other periodic work.
			nextRefresh = int64(timer.NextTick(clock.Base.Add(time.Duration(now)), refreshEvery).Sub(clock.Base))
		}
		due = due[:0]
		for len(d.h) > 0 && d.h[0].at <= now {
			e := heap.Pop(&d.h).(deadlineEntry)
			if !e.slot.current(e.gen) {
				continue
			}
			if e.slot.natural != nil {
				if nat := e.slot.natural(); nat > now { // it beat since: what the watcher would do
					e.at = nat
					heap.Push(&d.h, e)
					continue
				}
			}
			due = append(due, e)
		}
		wait := time.Duration(0)
		if len(d.h) > 0 {
			d.next = min(d.h[0].at, nextRefresh)
			wait = time.Duration(max(d.next-now, 1))
		} else {
			d.next = 0
		}
		d.mu.Unlock()
		d.deliver(due)
		if len(due) > 0 {
			continue // delivering took time: look again before sleeping
		}
		var timer <-chan time.Time
		if wait > 0 {
			t.Reset(wait)
			timer = t.C()
		}
		d.idleAt.Store(now)
		select {
		case <-timer:
		case <-d.wake:
			t.Stop()
		case <-d.done:
			return
		}
	}
}

// parallelFrom is the batch size from which due deadlines are delivered by
// one goroutine per CPU: thousands of zooids expiring in the same instant
// (a host or network failure) are reported in half the time on two cores.
const parallelFrom = 512

// deliver sends each due watcher its deadlinePassed. Watchers run inline
// (synchronized dispatcher), so the work of a large batch is split across
// goroutines; each watcher's mailbox still runs it one message at a time.
func (d *deadlines) deliver(due []deadlineEntry) {
	one := func(part []deadlineEntry) {
		for _, e := range part {
			if pid := e.slot.pid.Load(); pid != nil {
				d.root.Send(pid, &deadlinePassed{gen: e.gen})
			}
		}
	}
	n := min(runtime.GOMAXPROCS(0), 8)
	if len(due) < parallelFrom || n < 2 {
		one(due)
		return
	}
	var wg sync.WaitGroup
	size := (len(due) + n - 1) / n
	for i := 0; i < len(due); i += size {
		part := due[i:min(i+size, len(due))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(part)
		}()
	}
	wg.Wait()
}

// refresh moves entries due within refreshAhead whose zooid beat since to
// their natural deadline. Called with mu held.
func (d *deadlines) refresh(now int64, buf []deadlineEntry) []deadlineEntry {
	horizon := now + int64(refreshAhead)
	for len(d.h) > 0 && d.h[0].at <= horizon {
		e := heap.Pop(&d.h).(deadlineEntry)
		if !e.slot.current(e.gen) {
			continue
		}
		if e.slot.natural != nil {
			e.at = max(e.at, e.slot.natural())
		}
		buf = append(buf, e)
	}
	for _, e := range buf {
		heap.Push(&d.h, e)
	}
	return buf
}
