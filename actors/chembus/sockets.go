package chembus

import (
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
)

// Every libzmq socket here is created, used and closed by one goroutine
// locked to its OS thread; actors reach it through channels only. The SUB
// side is chosen by chembus.subscriber (subscriber.go): our own ZMTP reader
// (sub_zmtp_linux.go) or libzmq's SUB socket (sub_libzmq.go).

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
	wm       *Watermark   // nil: nobody watches
	log      *slog.Logger // nil: silent
	// pingInterval, pingTimeout: liveness of an idle connection (ZMTP
	// PING/PONG; 0: zmtp.DefaultPingInterval / DefaultPingTimeout). A peer
	// that answers nothing is dropped pingInterval + pingTimeout after its
	// last byte and connected to again.
	pingInterval, pingTimeout time.Duration
	// health, when set, is told each time the subscription comes up or
	// goes down (the SUB goroutine calls it; it must not block).
	health func(up bool, detail string)
	// inline, if set, takes a batch on the SUB goroutine instead of out
	// when everything handed over before has been consumed (wm.consumed
	// caught up with wm.handed): the reader of out is idle then, so order
	// is kept, and a quiet bus costs one goroutine hand-off less per read.
	// Under load batches still go to out, so decoding overlaps reading.
	inline func(rawBatch)
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
