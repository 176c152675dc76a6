package chembus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/kloros/kloros-observer/actors/chembus/zmtp"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/timer"
)

// Every libzmq socket here is created, used and closed by one goroutine
// locked to its OS thread; actors reach it through channels only. The SUB
// side is not a libzmq socket (see subLoop).

// rawBatch is what the SUB goroutine hands over: messages read in one go
// and the window [lo, hi] in which they must have arrived (lo: when the
// socket was last found empty before them; hi: when the read ended).
type rawBatch struct {
	msgs   []zmtp.Message
	lo, hi time.Time
}

// subOptions sets a SUB goroutine.
type subOptions struct {
	xpub     string
	topics   []string
	maxFrame int // frames longer are not stored (counted as oversize)
	// coalesce: after a read that found something, wait this long before
	// reading again (kicks and stop end the wait early); 0 reads as soon as
	// anything arrives.
	coalesce time.Duration
	wm       *Watermark // nil: nobody watches
	// health, when set, is told each time the subscription comes up or
	// goes down (the SUB goroutine calls it; it must not block).
	health func(up bool, detail string)
	log    *slog.Logger // nil: silent
	// inline, if set, takes a batch on the SUB goroutine instead of out
	// when everything handed over before has been consumed (wm.consumed
	// caught up with wm.handed): the reader of out is idle then, so order
	// is kept, and a quiet bus costs one goroutine hand-off less per read.
	// Under load batches still go to out, so decoding overlaps reading.
	inline func(rawBatch)
}

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
		c, err := zmtp.Dial(dctx, opts.xpub, zmtp.Options{Topics: opts.topics, MaxFrame: opts.maxFrame})
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
			idle := wm.handed.Load() == wm.consumed.Load()
			wm.handed.Add(int64(len(b.msgs))) // before emptyAt: see BusWatermark
			if idle && opts.inline != nil {
				opts.inline(b)
			} else {
				select {
				case out <- b:
				case <-stop:
					return nil
				}
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

// outMsg is one message to publish.
type outMsg struct {
	topic   string
	payload []byte
}

// pubLoop owns a PUB socket connected to xsub. It publishes what arrives on
// in until in is closed, then closes the socket with a linger so queued
// messages still go out (the caller terminates the context after).
func pubLoop(zctx *zmq.Context, xsub string, linger time.Duration, in <-chan outMsg, sent func(topic string, err error)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := zctx.NewSocket(zmq.PUB)
	if err != nil {
		return fmt.Errorf("new PUB socket: %w", err)
	}
	_ = s.SetLinger(linger)
	_ = s.SetSndhwm(100000)
	_ = s.SetReconnectIvl(100 * time.Millisecond)
	_ = s.SetReconnectIvlMax(5 * time.Second)
	if err := s.Connect(xsub); err != nil {
		s.Close()
		return fmt.Errorf("connect PUB to %s: %w", xsub, err)
	}
	var last time.Time
	for m := range in {
		_, err := s.SendMessage(m.topic, m.payload)
		sent(m.topic, err)
		last = time.Now()
	}
	// Linger only guarantees that what is queued leaves this process. A
	// proxy whose publisher disconnects drops what it has received but not
	// yet forwarded (libzmq terminates the inbound pipe), so after a recent
	// send stay connected a moment longer for the proxy to pass it on.
	if grace := min(linger/2, 500*time.Millisecond); !last.IsZero() && time.Since(last) < grace {
		time.Sleep(grace - time.Since(last))
	}
	return s.Close() // lingers up to `linger` to deliver what is queued
}

// ErrAddrInUse reports a bind to an endpoint someone else holds.
var ErrAddrInUse = errors.New("address in use")

// proxy is an XSUB/XPUB forwarder run inside this process.
type proxy struct {
	zctx *zmq.Context
	ctl  string
	done chan error
	once sync.Once
}

var proxySeq atomic.Int64

// startProxy binds xsub and xpub and forwards between them on its own
// thread until stop is called. A bind that fails because the address is
// taken returns ErrAddrInUse (someone else runs the proxy).
func startProxy(xsub, xpub string) (*proxy, error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	p := &proxy{zctx: zctx, ctl: fmt.Sprintf("inproc://kloros-proxy-ctl-%d", proxySeq.Add(1)), done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		front, _ := zctx.NewSocket(zmq.XSUB)
		back, _ := zctx.NewSocket(zmq.XPUB)
		ctl, _ := zctx.NewSocket(zmq.PAIR)
		// Room for a burst of heartbeats from 100k zooids (the default is 1000).
		for _, s := range []*zmq.Socket{front, back} {
			_ = s.SetRcvhwm(200000)
			_ = s.SetSndhwm(200000)
		}
		closeAll := func() {
			for _, s := range []*zmq.Socket{front, back, ctl} {
				s.SetLinger(0)
				s.Close()
			}
		}
		for _, b := range []struct {
			s  *zmq.Socket
			ep string
		}{{front, xsub}, {back, xpub}, {ctl, p.ctl}} {
			if err := b.s.Bind(b.ep); err != nil {
				closeAll()
				if zmq.AsErrno(err) == zmq.Errno(syscall.EADDRINUSE) {
					err = fmt.Errorf("bind %s: %w", b.ep, ErrAddrInUse)
				} else {
					err = fmt.Errorf("bind %s: %w", b.ep, err)
				}
				ready <- err
				return
			}
		}
		ready <- nil
		err := zmq.ProxySteerable(front, back, nil, ctl)
		closeAll()
		p.done <- err
	}()
	if err := <-ready; err != nil {
		zctx.Term()
		return nil, err
	}
	return p, nil
}

// stop terminates the proxy and waits for it. Calling it again is harmless.
func (p *proxy) stop() { p.once.Do(p.terminate) }

func (p *proxy) terminate() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s, err := p.zctx.NewSocket(zmq.PAIR); err == nil {
		if s.Connect(p.ctl) == nil {
			s.Send("TERMINATE", 0)
		}
		s.SetLinger(0)
		s.Close()
	}
	<-p.done
	p.zctx.Term()
}
