//go:build linux

package zmtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one subscribed connection.
type Conn struct {
	nc    net.Conn
	rc    syscall.RawConn
	o     Options
	buf   []byte
	p     parser
	intr  atomic.Bool
	lowat int
	Peer  string // the peer's Socket-Type (PUB or XPUB)
	Pings int    // PINGs answered

	lastRecv time.Time // when a read last returned bytes (or the handshake ended)
	pingSent time.Time // when our outstanding PING went out (zero: none)
	pingSeq  uint16
}

// Dial connects to endpoint, performs the ZMTP handshake as a SUB socket
// and sends the subscriptions.
func Dial(ctx context.Context, endpoint string, o Options) (*Conn, error) {
	network, addr, err := Endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	o.defaults()
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, o: o, buf: make([]byte, 256*1024)}
	c.p.maxFrame = o.MaxFrame
	if c.Peer, err = handshake(ctx, nc, o); err != nil {
		nc.Close()
		return nil, err
	}
	c.lastRecv = time.Now()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("zmtp: %T has no file descriptor", nc)
	}
	if c.rc, err = sc.SyscallConn(); err != nil {
		nc.Close()
		return nil, err
	}
	c.lowat = 1
	if err := c.SetLowat(o.RcvLowat); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Drain reads what the kernel holds, without waiting, and appends each
// complete message to msgs. It stops when the socket is empty (empty true;
// emptyAt is the instant just before the read that found it empty: every
// byte that reached the socket before then has been read) or when max
// messages were appended (empty false). err is ErrClosed when the peer
// closed the connection, ErrPeerSilent when it answered no PING in time.
//
// Drain also keeps the connection's liveness: once it finds the socket
// empty PingInterval after the last byte arrived, it sends a PING; once it
// finds it still empty PingTimeout after that PING, the peer is silent.
// Wait wakes in time for both (see LivenessDeadline).
func (c *Conn) Drain(msgs []Message, max int) (out []Message, empty bool, emptyAt time.Time, err error) {
	for {
		if len(msgs) >= max {
			return msgs, false, time.Time{}, nil
		}
		t := time.Now()
		var n int
		var rerr error
		if err := c.rc.Control(func(fd uintptr) {
			for {
				n, rerr = syscall.Read(int(fd), c.buf)
				if rerr != syscall.EINTR {
					return
				}
			}
		}); err != nil {
			return msgs, false, time.Time{}, err
		}
		switch {
		case rerr == syscall.EAGAIN:
			if err := c.liveness(t); err != nil {
				return msgs, false, time.Time{}, err
			}
			return msgs, true, t, nil
		case rerr != nil:
			return msgs, false, time.Time{}, fmt.Errorf("zmtp: read: %w", rerr)
		case n == 0:
			return msgs, false, time.Time{}, ErrClosed
		}
		c.lastRecv, c.pingSent = t, time.Time{} // the peer is alive: any byte answers a PING
		var perr error
		msgs, perr = c.p.feed(c.buf[:n], msgs, c.pong)
		if perr != nil {
			return msgs, false, time.Time{}, perr
		}
	}
}

// liveness runs when a read at now found the socket empty.
func (c *Conn) liveness(now time.Time) error {
	if c.o.PingInterval < 0 {
		return nil
	}
	if !c.pingSent.IsZero() {
		if now.Sub(c.pingSent) >= c.o.PingTimeout {
			return fmt.Errorf("%w (nothing for %.1fs; PING unanswered for %.1fs)", ErrPeerSilent,
				now.Sub(c.lastRecv).Seconds(), now.Sub(c.pingSent).Seconds())
		}
		return nil
	}
	if now.Sub(c.lastRecv) < c.o.PingInterval {
		return nil
	}
	c.pingSeq++
	if err := c.write(ping([]byte{byte(c.pingSeq >> 8), byte(c.pingSeq)})); err != nil {
		return fmt.Errorf("zmtp: send PING: %w", err)
	}
	c.pingSent = now
	return nil
}

// LivenessDeadline is when Drain must next run for the liveness check to
// keep its bound: the next PING, or the end of the outstanding PING's wait.
// A Wait should not last past it (zero: no bound, PINGs are off).
func (c *Conn) LivenessDeadline() time.Time {
	switch {
	case c.o.PingInterval < 0:
		return time.Time{}
	case !c.pingSent.IsZero():
		return c.pingSent.Add(c.o.PingTimeout)
	default:
		return c.lastRecv.Add(c.o.PingInterval)
	}
}

// Pongs is how many PONGs (answers to our PINGs) arrived.
func (c *Conn) Pongs() int { return c.p.pongs }

// ErrClosed is returned by Drain when the peer closed the connection.
var ErrClosed = errors.New("zmtp: the peer closed the connection")

// pong answers a PING (ZMTP 3.1 heartbeats, if the peer enabled them).
func (c *Conn) pong(ctx []byte) error {
	c.Pings++
	if err := c.write(command("PONG", ctx)); err != nil {
		return fmt.Errorf("zmtp: send PONG: %w", err)
	}
	return nil
}

// write sends a command, bounded by a second: a peer that does not read
// cannot block the reader.
func (c *Conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := c.nc.Write(b)
	_ = c.nc.SetWriteDeadline(time.Time{})
	return err
}

// Wait parks the goroutine (in Go's netpoller: no thread, no P) until at
// least RcvLowat bytes are queued or the peer closed (nil), until passes
// (ErrTimeout; a zero until waits without limit) or Interrupt is called
// (ErrInterrupted). Call it after Drain found the socket empty. It never
// lasts past LivenessDeadline: it returns ErrTimeout then, and the next
// Drain sends the PING or finds the peer silent.
func (c *Conn) Wait(until time.Time) error {
	if l := c.LivenessDeadline(); !l.IsZero() && (until.IsZero() || l.Before(until)) {
		until = l
	}
	_ = c.nc.SetReadDeadline(until)
	if c.intr.Swap(false) { // an Interrupt before the deadline was set
		return ErrInterrupted
	}
	first := true
	err := c.rc.Read(func(fd uintptr) bool {
		if !first {
			return true
		}
		first = false
		// The poller's readiness was just reset: whatever came before (data
		// past SO_RCVLOWAT, which poll honours for TCP, or the peer closing)
		// would not wake us, so look.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		n, err := unix.Poll(pfd, 0)
		return err != nil || (n > 0 && pfd[0].Revents != 0)
	})
	if err == nil {
		return nil
	}
	if c.intr.Swap(false) {
		return ErrInterrupted
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrTimeout
	}
	return err
}

// SetLowat changes RcvLowat. Lowering it wakes a waiter if enough is
// already queued (the kernel re-checks), so nothing queued is left behind.
func (c *Conn) SetLowat(n int) error {
	n = max(n, 1)
	if n == c.lowat {
		return nil
	}
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("zmtp: SO_RCVLOWAT %d: %w", n, serr)
	}
	c.lowat = n
	return nil
}

// Interrupt ends a Wait now, or the next one at once. Any goroutine may
// call it.
func (c *Conn) Interrupt() {
	if c.intr.Swap(true) {
		return // one is pending: the next Wait ends at once, or this one will
	}
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }
