package actors

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Every ZeroMQ socket here is created, used and closed by one goroutine
// locked to its OS thread; actors reach it through channels only.

// rawMsg is one multipart message as received, with its arrival time.
type rawMsg struct {
	frames [][]byte
	at     time.Time
}

// subLoop owns a SUB socket: it connects to xpub, subscribes to topics and
// hands received messages to out in batches (up to 256, or whatever arrived
// without waiting), so decoding happens off this thread. It returns when
// stop is closed, or with an error if the socket cannot be set up.
func subLoop(zctx *zmq.Context, xpub string, topics []string, out chan<- []rawMsg, stop <-chan struct{}) error {
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
	_ = s.SetRcvtimeo(100 * time.Millisecond)
	for _, t := range topics {
		if err := s.SetSubscribe(t); err != nil {
			return fmt.Errorf("subscribe %s: %w", t, err)
		}
	}
	if err := s.Connect(xpub); err != nil {
		return fmt.Errorf("connect SUB to %s: %w", xpub, err)
	}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		frames, err := s.RecvMessageBytes(0)
		if err != nil {
			if retryable(err) {
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		batch := []rawMsg{{frames: frames, at: time.Now()}}
		for len(batch) < 256 {
			f, err := s.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				break
			}
			batch = append(batch, rawMsg{frames: f, at: time.Now()})
		}
		select {
		case out <- batch:
		case <-stop:
			return nil
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
	for m := range in {
		_, err := s.SendMessage(m.topic, m.payload)
		sent(m.topic, err)
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
