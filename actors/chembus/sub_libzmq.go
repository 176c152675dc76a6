package chembus

import (
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
)

// libzmqSubLoop is the SUB side on libzmq's own SUB socket
// (chembus.subscriber: libzmq), for a peer our ZMTP reader misreads. One
// goroutine, locked to its OS thread, creates, uses and closes the socket
// (and its own ZeroMQ context); it hands what arrives, in batches, to the
// same decoder and keeps the same watermark as subLoop, so heartbeats,
// kills, arrival times and the watchers' "caught up" question work alike.
//
// What differs from the ZMTP reader:
//   - No coalescing (opts.coalesce is ignored): libzmq's I/O thread wakes
//     for every message anyway, so this goroutine reads as soon as
//     something is queued. An idle colony costs a wake-up per heartbeat
//     (more CPU than zmtp at 100 heartbeats/s; see bench/RESULTS.md).
//   - Arrival times: messages are read as they come, so each batch's
//     window is short and At is the time it was read.
//   - Reconnecting is libzmq's (100 ms doubling to 5 s, as subLoop does),
//     and so is liveness: ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT set to
//     opts.pingInterval/pingTimeout) drop a silent peer in the same bound.
//   - A frame over opts.maxFrame is dropped and counted as oversize as with
//     zmtp, but libzmq has already received it whole (memory bounded by the
//     receive high-water mark, not by max_frame_bytes).
//   - The watermark is never "parked": libzmq does not say when it is
//     disconnected. A watcher's Kick reaches this goroutine through an
//     inproc PAIR socket and makes it read at once and move emptyAt on.
func libzmqSubLoop(opts subOptions, out chan<- rawBatch, stop <-chan struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	log := opts.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wm := opts.wm
	if wm == nil {
		wm = NewWatermark()
	}
	if opts.maxFrame <= 0 {
		opts.maxFrame = 64 * 1024 // as zmtp.Options.MaxFrame
	}
	ivl, timeout := opts.pingInterval, opts.pingTimeout
	if ivl == 0 {
		ivl = zmtp.DefaultPingInterval
	}
	if timeout <= 0 {
		timeout = zmtp.DefaultPingTimeout
	}
	s, err := newLibzmqSub(opts, ivl, timeout)
	if err != nil {
		// Only a broken libzmq fails here (the endpoint was validated):
		// wait for stop rather than spin; the actor's failure path has
		// nothing better to do with it.
		log.Error("cannot make the libzmq SUB socket", "xpub", opts.xpub, "err", err)
		<-stop
		return
	}
	defer s.close()
	wm.parked.Store(false)
	wm.setWaker(s.wake)
	defer wm.setWaker(nil)
	returned := make(chan struct{})
	defer close(returned)
	go func() {
		select {
		case <-stop:
			s.wake() // ends the poll; the loop sees stop
		case <-returned:
		}
	}()
	log.Info("subscribing on ChemBus through libzmq", "xpub", opts.xpub, "heartbeat_ivl_seconds", ivl.Seconds(),
		"heartbeat_timeout_seconds", timeout.Seconds())
	if opts.health != nil { // libzmq connects and reconnects on its own: reported up once it was asked to
		opts.health(true, "libzmq SUB socket connecting (reconnects are libzmq's own)")
	}
	emptyAt := time.Now()
	wm.emptyAt.Store(int64(emptyAt.Sub(clock.Base)))
	for {
		select {
		case <-stop:
			return
		default:
		}
		msgs, empty, at, err := s.drain(opts.maxFrame, 256)
		b := rawBatch{lo: emptyAt, hi: at}
		if !empty {
			b.hi = time.Now()
		}
		if len(msgs) > 0 {
			b.msgs = msgs
			if !handOver(b, opts, wm, out, stop) {
				return
			}
		}
		if err != nil {
			log.Error("libzmq SUB socket failed", "xpub", opts.xpub, "err", err)
			<-stop
			return
		}
		if !empty {
			continue
		}
		emptyAt = at
		wm.emptyAt.Store(int64(emptyAt.Sub(clock.Base)))
		if _, err := s.poller.Poll(-1); err != nil {
			log.Error("libzmq poll failed", "xpub", opts.xpub, "err", err)
			<-stop
			return
		}
		for { // kicks and stop: only waking mattered
			if _, err := s.ctl.RecvBytes(zmq.DONTWAIT); err != nil {
				break
			}
		}
	}
}

// libzmqSub is the SUB socket, the PAIR that wakes its poll, and their
// context. Only the owning goroutine touches sub, ctl and poller; wake may
// be called from any goroutine (kick is used under mu only, which gives
// libzmq the memory barrier it needs to move a socket between threads).
type libzmqSub struct {
	zctx   *zmq.Context
	sub    *zmq.Socket
	ctl    *zmq.Socket
	poller *zmq.Poller

	mu     sync.Mutex
	kick   *zmq.Socket
	closed bool
}

var libzmqSubSeq atomic.Int64 // names each wake-up PAIR's inproc endpoint

func newLibzmqSub(opts subOptions, ivl, timeout time.Duration) (*libzmqSub, error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	s := &libzmqSub{zctx: zctx}
	fail := func(err error) (*libzmqSub, error) {
		s.close()
		return nil, err
	}
	if s.sub, err = zctx.NewSocket(zmq.SUB); err != nil {
		return fail(err)
	}
	_ = s.sub.SetLinger(0)
	_ = s.sub.SetRcvhwm(200000) // as the proxy's: a burst from 100k zooids
	_ = s.sub.SetReconnectIvl(100 * time.Millisecond)
	_ = s.sub.SetReconnectIvlMax(5 * time.Second)
	if ivl > 0 {
		if err := s.sub.SetHeartbeatIvl(ivl); err != nil {
			return fail(fmt.Errorf("ZMQ_HEARTBEAT_IVL: %w", err))
		}
		if err := s.sub.SetHeartbeatTimeout(timeout); err != nil {
			return fail(fmt.Errorf("ZMQ_HEARTBEAT_TIMEOUT: %w", err))
		}
	}
	for _, t := range opts.topics {
		if err := s.sub.SetSubscribe(t); err != nil {
			return fail(err)
		}
	}
	if err := s.sub.Connect(opts.xpub); err != nil {
		return fail(fmt.Errorf("connect SUB to %s: %w", opts.xpub, err))
	}
	ep := fmt.Sprintf("inproc://kloros-sub-kick-%d", libzmqSubSeq.Add(1))
	if s.ctl, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return fail(err)
	}
	_ = s.ctl.SetLinger(0)
	if err := s.ctl.Bind(ep); err != nil {
		return fail(err)
	}
	if s.kick, err = zctx.NewSocket(zmq.PAIR); err != nil {
		return fail(err)
	}
	_ = s.kick.SetLinger(0)
	_ = s.kick.SetSndhwm(1) // one pending wake-up is enough
	if err := s.kick.Connect(ep); err != nil {
		return fail(err)
	}
	s.poller = zmq.NewPoller()
	s.poller.Add(s.sub, zmq.POLLIN)
	s.poller.Add(s.ctl, zmq.POLLIN)
	return s, nil
}

// wake ends the owner's poll (at once, or the next one). Any goroutine.
func (s *libzmqSub) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.kick != nil {
		_, _ = s.kick.Send("", zmq.DONTWAIT) // EAGAIN: a wake-up is pending already
	}
}

// drain reads what libzmq holds without waiting, as zmtp.Conn.Drain does:
// empty with the instant before the read that found nothing, or max
// messages.
func (s *libzmqSub) drain(maxFrame, max int) (msgs []zmtp.Message, empty bool, emptyAt time.Time, err error) {
	for len(msgs) < max {
		t := time.Now()
		m, err := s.recv(maxFrame)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) {
				return msgs, true, t, nil
			}
			return msgs, false, time.Time{}, err
		}
		msgs = append(msgs, m)
	}
	return msgs, false, time.Time{}, nil
}

// recv takes one whole message (DONTWAIT on its first frame: the rest of a
// multipart message is there once the first is) in zmtp.Message's form.
func (s *libzmqSub) recv(maxFrame int) (zmtp.Message, error) {
	var m zmtp.Message
	flags := zmq.DONTWAIT
	for {
		f, err := s.sub.RecvBytes(flags)
		if err != nil {
			return m, err
		}
		flags = 0
		switch {
		case len(f) > maxFrame:
			m.Oversize = true
		case m.NFrames < zmtp.KeepFrames:
			m.Frames = append(m.Frames, f)
		}
		m.NFrames++
		if more, err := s.sub.GetRcvmore(); err != nil || !more {
			return m, err
		}
	}
}

func (s *libzmqSub) close() {
	s.mu.Lock()
	s.closed = true
	if s.kick != nil {
		s.kick.Close()
	}
	s.mu.Unlock()
	for _, so := range []*zmq.Socket{s.ctl, s.sub} {
		if so != nil {
			so.Close()
		}
	}
	s.zctx.Term()
}
