package actors

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Every ZeroMQ socket here is created, used and closed by one goroutine
// locked to its OS thread; actors reach it through channels only.

// rawBatch is what the SUB goroutine hands over: messages drained in one go
// and the window [lo, hi] in which they must have arrived (lo: when the
// socket was last found empty before them; hi: when the drain ended).
type rawBatch struct {
	msgs   [][][]byte
	lo, hi time.Time
}

// subOptions sets a SUB goroutine.
type subOptions struct {
	xpub   string
	topics []string
	// coalesce: after a drain, wait this long before draining again (kicks
	// and stop end the wait early); 0 drains as soon as anything arrives.
	coalesce time.Duration
	wm       *BusWatermark // nil: nobody watches
}

// subLoop owns a SUB socket: it connects, subscribes and hands what arrives
// to out in batches (up to 256), so decoding happens off this thread. It
// returns when stop is closed, or with an error if the socket fails.
//
// It never blocks inside ZeroMQ. A blocking zmq_recv is a cgo call that
// holds a P; each one longer than 10 ms makes the runtime's sysmon take the
// P back and drop into its 20 µs polling loop — at 100 heartbeats/s that
// alone cost ~3% of a core (1,400 sysmon wake-ups/s). Instead it waits on the
// socket's ZMQ_FD in Go's netpoller (the goroutine parks, no P is held) and
// calls ZeroMQ only non-blockingly: ZMQ_EVENTS, then recv DONTWAIT until
// nothing is left. ZMQ_FD is edge-like — it signals that the socket's state
// may have changed — so each wake-up re-reads ZMQ_EVENTS and drains; Go's
// poller keeps an edge that arrives while nobody waits, so none is lost.
//
// After a drain that found something it waits opts.coalesce before the next
// (messages queue in ZeroMQ meanwhile, without waking anyone), so at a steady
// 100 heartbeats/s the whole pipeline wakes ~20 times a second, not 100. A
// watcher whose deadline passed kicks it to drain at once (BusWatermark).
func subLoop(zctx *zmq.Context, opts subOptions, out chan<- rawBatch, stop <-chan struct{}) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		return fmt.Errorf("new SUB socket: %w", err)
	}
	defer s.Close()
	_ = s.SetLinger(0)
	_ = s.SetRcvhwm(100000)
	_ = s.SetReconnectIvl(100 * time.Millisecond)
	_ = s.SetReconnectIvlMax(5 * time.Second)
	for _, t := range opts.topics {
		if err := s.SetSubscribe(t); err != nil {
			return fmt.Errorf("subscribe %s: %w", t, err)
		}
	}
	if err := s.Connect(opts.xpub); err != nil {
		return fmt.Errorf("connect SUB to %s: %w", opts.xpub, err)
	}
	ready, closeWait, err := socketReadiness(s)
	if err != nil {
		return err
	}
	defer closeWait()
	returned := make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-stop:
			ready.SetReadDeadline(time.Unix(1, 0)) // wakes the wait below
		case <-returned:
		}
	}()
	wm := opts.wm
	if wm == nil {
		wm = NewBusWatermark() // nobody reads it; keeps the loop simple
	}
	var coalesce *time.Timer
	if opts.coalesce > 0 {
		coalesce = time.NewTimer(time.Hour)
		coalesce.Stop()
	}
	emptyAt := time.Now() // the socket held nothing at this instant
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		start := time.Now()
		ev, err := s.GetEvents() // also consumes ZeroMQ's pending commands
		if err != nil && !retryable(err) {
			return fmt.Errorf("read socket events: %w", err)
		}
		b := rawBatch{lo: emptyAt}
		full, foundEmpty := false, start // foundEmpty: nothing unread arrived before it
		if ev&zmq.POLLIN != 0 {
			for {
				if len(b.msgs) == 256 {
					full = true
					break
				}
				t := time.Now()
				f, err := s.RecvMessageBytes(zmq.DONTWAIT)
				if err != nil {
					if retryable(err) {
						foundEmpty = t
						break
					}
					return fmt.Errorf("receive: %w", err)
				}
				b.msgs = append(b.msgs, f)
			}
		}
		b.hi = foundEmpty // every message in b was taken before this instant
		if full {
			b.hi = time.Now()
		}
		if len(b.msgs) > 0 {
			wm.handed.Add(int64(len(b.msgs))) // before emptyAt: see BusWatermark
			select {
			case out <- b:
			case <-stop:
				return nil
			}
		}
		if full {
			continue // more is waiting; emptyAt stays where it was
		}
		emptyAt = foundEmpty
		wm.emptyAt.Store(int64(emptyAt.Sub(monoBase)))
		if len(b.msgs) > 0 {
			if coalesce != nil {
				coalesce.Reset(opts.coalesce)
				select {
				case <-coalesce.C:
				case <-wm.kick:
					coalesce.Stop()
				case <-stop:
					return nil
				}
			}
			// Park only after ZMQ_EVENTS itself said "nothing": a recv may
			// have consumed the signal of what arrived meanwhile.
			continue
		}
		// Nothing pending: park until ZeroMQ signals.
		wm.parked.Store(true)
		err = waitReadable(ready, s)
		wm.parked.Store(false)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) { // deadline: stop was closed
			return fmt.Errorf("wait for the SUB socket: %w", err)
		}
	}
}

// socketReadiness wraps a duplicate of the socket's ZMQ_FD (ZeroMQ keeps
// owning the original) in an *os.File registered with Go's netpoller.
func socketReadiness(s *zmq.Socket) (*os.File, func(), error) {
	fd, err := s.GetFd()
	if err != nil {
		return nil, nil, fmt.Errorf("get ZMQ_FD: %w", err)
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("dup ZMQ_FD: %w", err)
	}
	syscall.CloseOnExec(dup)
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, nil, fmt.Errorf("ZMQ_FD non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(dup), "zmq-fd")
	if err := f.SetReadDeadline(time.Time{}); err != nil { // fails unless the netpoller took it
		f.Close()
		return nil, nil, fmt.Errorf("ZMQ_FD not pollable: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// waitReadable parks the goroutine until ZeroMQ reports the socket
// readable (or f's deadline passes). It reads nothing from f: the
// descriptor belongs to ZeroMQ's signaler. Go's RawRead first resets the
// poller's readiness and then calls the check; an edge that came before the
// reset is then seen by the check (ZMQ_EVENTS), one that comes after wakes
// the wait — so nothing is missed between our last look and parking.
func waitReadable(f *os.File, s *zmq.Socket) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var evErr error
	err = rc.Read(func(uintptr) bool {
		ev, err := s.GetEvents()
		if err != nil && !retryable(err) {
			evErr = err
			return true
		}
		return ev&zmq.POLLIN != 0
	})
	if err == nil {
		err = evErr
	}
	return err
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

func retryable(err error) bool {
	e := zmq.AsErrno(err)
	return e == zmq.Errno(syscall.EAGAIN) || e == zmq.Errno(syscall.EINTR)
}

// ErrAddrInUse reports a bind to an endpoint someone else holds.
var ErrAddrInUse = errors.New("address in use")

// proxy is an XSUB/XPUB forwarder run inside this process.
type proxy struct {
	zctx *zmq.Context
	ctl  string
	done chan error
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

// stop terminates the proxy and waits for it.
func (p *proxy) stop() {
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
