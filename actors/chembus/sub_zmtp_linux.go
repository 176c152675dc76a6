//go:build linux

package chembus

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors/chembus/zmtp"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/timer"
)

// zmtpSupported: our own ZMTP reader runs here (it needs Linux's poll(2)
// semantics for SO_RCVLOWAT; see package zmtp).
const zmtpSupported = true

// coalesceLowat is SO_RCVLOWAT while the SUB side coalesces: only a burst
// this large wakes it before its window ends.
const coalesceLowat = 128 * 1024

// subLoop subscribes to opts.xpub and hands what arrives, in batches, to
// opts.inline or out (see subOptions.inline). It connects again whenever
// the connection fails or the peer closes it (100 ms, doubling to 5 s, as
// libzmq's reconnect interval), and returns when stop is closed.
//
// The SUB side speaks ZMTP itself (package zmtp) rather than through
// libzmq, whose I/O thread would wake for every heartbeat the proxy writes.
// Here nothing wakes per message: after a read that found something the
// goroutine parks in Go's netpoller for opts.coalesce with SO_RCVLOWAT set
// high, so heartbeats queue in the kernel without waking anyone, and then
// reads them all at once. After a read that found nothing it lowers
// SO_RCVLOWAT to one byte and parks until something arrives, so a quiet
// bus costs nothing and the first message after a silence (a
// governance.kill, a recovery) is not held back. A watcher whose deadline
// passed kicks it to read at once (BusWatermark).
//
// An idle connection is PINGed (zmtp.Options.PingInterval): a peer that
// answers nothing is dropped opts.pingInterval + opts.pingTimeout after the
// last byte it sent (20 s by default), and connected to again.
func subLoop(opts subOptions, out chan<- rawBatch, stop <-chan struct{}) {
	log := opts.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wm := opts.wm
	if wm == nil {
		wm = NewWatermark() // nobody reads it; keeps the loop simple
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cur atomic.Pointer[zmtp.Conn]
	wake := func() {
		if c := cur.Load(); c != nil {
			c.Interrupt()
		}
	}
	wm.setWaker(wake)
	defer wm.setWaker(nil)
	returned := make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-stop:
			cancel() // ends a dial or a backoff
			wake()   // ends a wait
		case <-returned:
		}
	}()
	backoff := 100 * time.Millisecond
	var lastComplaint time.Time
	failures := 0
	for {
		wm.parked.Store(true) // not connected: nothing can be waiting for us
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := zmtp.Dial(dctx, opts.xpub, zmtp.Options{Topics: opts.topics, MaxFrame: opts.maxFrame,
			PingInterval: opts.pingInterval, PingTimeout: opts.pingTimeout})
		dcancel()
		if ctx.Err() != nil {
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			failures++
			if failures == 1 && opts.health != nil {
				opts.health(false, err.Error())
			}
			if time.Since(lastComplaint) >= time.Minute { // a proxy that is down is not news every 100 ms
				lastComplaint = time.Now()
				log.Warn("cannot subscribe on ChemBus; retrying", "xpub", opts.xpub, "attempts", failures, "err", err.Error())
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		log.Info("subscribed on ChemBus", "xpub", opts.xpub, "peer", c.Peer, "after_failures", failures)
		if opts.health != nil {
			opts.health(true, "subscribed")
		}
		failures, lastComplaint = 0, time.Time{}
		wm.parked.Store(false)
		cur.Store(c)
		if ctx.Err() == nil { // else stop came before cur was set: nobody woke this connection
			err = readConn(c, opts, wm, out, stop)
		}
		cur.Store(nil)
		c.Close()
		if ctx.Err() != nil || err == nil {
			return
		}
		log.Warn("ChemBus subscription lost; reconnecting", "xpub", opts.xpub, "err", err.Error())
		if opts.health != nil {
			opts.health(false, err.Error())
		}
	}
}

// readConn reads one connection until it fails (its error) or stop is
// closed (nil).
func readConn(c *zmtp.Conn, opts subOptions, wm *Watermark, out chan<- rawBatch, stop <-chan struct{}) error {
	emptyAt := time.Now() // just connected: nothing was unread before now
	wm.emptyAt.Store(int64(emptyAt.Sub(clock.Base)))
	var msgs []zmtp.Message
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		var (
			empty bool
			at    time.Time
			err   error
		)
		msgs, empty, at, err = c.Drain(msgs[:0], 256)
		b := rawBatch{lo: emptyAt, hi: at}
		if !empty {
			b.hi = time.Now()
		}
		if len(msgs) > 0 {
			b.msgs = msgs
			msgs = nil // the decoder owns them now
			if !handOver(b, opts, wm, out, stop) {
				return nil
			}
		}
		if err != nil {
			return err
		}
		if !empty {
			continue // more is waiting; emptyAt stays where it was
		}
		emptyAt = at
		wm.emptyAt.Store(int64(emptyAt.Sub(clock.Base)))
		if b.msgs != nil && opts.coalesce > 0 {
			if err := c.SetLowat(coalesceLowat); err != nil {
				return err
			}
			// Read on the coalescing period's grid: the process's other
			// periodic work (lag probe, deadline refresh) ticks with it.
			err = c.Wait(timer.NextTick(time.Now(), opts.coalesce))
		} else {
			// Nothing came (or no coalescing): any byte ends the wait. Not
			// "parked" for the watermark: a byte may have come since the
			// read, so a watcher kicks and looks at emptyAt instead.
			if err := c.SetLowat(1); err != nil {
				return err
			}
			err = c.Wait(time.Time{})
		}
		if err != nil && err != zmtp.ErrTimeout && err != zmtp.ErrInterrupted {
			return fmt.Errorf("wait for the SUB connection: %w", err)
		}
	}
}
