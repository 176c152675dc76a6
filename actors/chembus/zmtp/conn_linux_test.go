//go:build linux

package zmtp

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"
	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"
)

// Every peer here is a real libzmq socket (through pebbe/zmq4), each used
// from the test goroutine only, locked to its thread.

func bound(t *testing.T, kind zmq.Type, ep string, setup func(*zmq.Socket)) (*zmq.Socket, string) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	s, err := zmq.NewSocket(kind)
	require.NoError(t, err)
	t.Cleanup(func() { s.SetLinger(0); s.Close() })
	if setup != nil {
		setup(s)
	}
	require.NoError(t, s.Bind(ep))
	last, err := s.GetLastEndpoint()
	require.NoError(t, err)
	return s, last
}

func dial(t *testing.T, ep string, o Options) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ep, o)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// collect drains c until n messages arrived (or fails after 5 s).
func collect(t *testing.T, c *Conn, n int) []Message {
	t.Helper()
	var got []Message
	end := time.Now().Add(5 * time.Second)
	for len(got) < n {
		var err error
		got, _, _, err = c.Drain(got, 1<<20)
		require.NoError(t, err)
		if len(got) >= n {
			break
		}
		require.True(t, time.Now().Before(end), "only %d of %d messages arrived", len(got), n)
		if err := c.Wait(time.Now().Add(20 * time.Millisecond)); err != nil && err != ErrTimeout {
			require.NoError(t, err)
		}
	}
	return got
}

// subscribed waits for the XPUB socket to hear our subscriptions, in order.
func subscribed(t *testing.T, xpub *zmq.Socket, topics ...string) {
	t.Helper()
	require.NoError(t, xpub.SetRcvtimeo(5*time.Second))
	for _, want := range topics {
		got, err := xpub.RecvBytes(0)
		require.NoError(t, err, "no subscription reached the XPUB socket")
		require.Equal(t, append([]byte{1}, want...), got)
	}
}

func TestReceivesWhatItSubscribedTo(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	c := dial(t, ep, Options{Topics: []string{"HEARTBEAT", "governance.kill"}, MaxFrame: 512})
	require.Equal(t, "XPUB", c.Peer)
	subscribed(t, xpub, "HEARTBEAT", "governance.kill")

	long := bytes.Repeat([]byte("x"), 300) // past 255: the 8-byte size form
	huge := bytes.Repeat([]byte("y"), 600) // past MaxFrame
	send := func(frames ...[]byte) {
		parts := make([]any, len(frames))
		for i, f := range frames {
			parts[i] = f
		}
		_, err := xpub.SendMessage(parts...)
		require.NoError(t, err)
	}
	send([]byte("HEARTBEAT"), []byte(`{"a":1}`))
	send([]byte("OTHER"), []byte(`filtered by the XPUB socket`))
	send([]byte("governance.kill"), long)
	send([]byte("HEARTBEAT"), huge)
	send([]byte("HEARTBEAT"), []byte("1"), []byte("2"), []byte("3"), []byte("4"), []byte("5"))
	send([]byte("HEARTBEAT"), []byte{})
	send([]byte("HEARTBEAT"))

	got := collect(t, c, 6)
	require.Len(t, got, 6)
	require.Equal(t, Message{Frames: [][]byte{[]byte("HEARTBEAT"), []byte(`{"a":1}`)}, NFrames: 2}, got[0])
	require.Equal(t, Message{Frames: [][]byte{[]byte("governance.kill"), long}, NFrames: 2}, got[1])
	require.Equal(t, Message{Frames: [][]byte{[]byte("HEARTBEAT")}, NFrames: 2, Oversize: true}, got[2])
	require.Equal(t, 6, got[3].NFrames)
	require.Len(t, got[3].Frames, KeepFrames)
	require.Equal(t, Message{Frames: [][]byte{[]byte("HEARTBEAT"), {}}, NFrames: 2}, got[4])
	require.Equal(t, Message{Frames: [][]byte{[]byte("HEARTBEAT")}, NFrames: 1}, got[5])
}

func TestIPC(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "ipc://"+filepath.Join(t.TempDir(), "bus"), nil)
	c := dial(t, ep, Options{Topics: []string{""}})
	subscribed(t, xpub, "")
	_, err := xpub.SendMessage("T", "p")
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("T"), []byte("p")}, collect(t, c, 1)[0].Frames)
}

// A frame stream split at every possible byte decodes the same.
// A peer that sends ZMTP heartbeats gets PONGs and keeps the connection.
func TestAnswersPing(t *testing.T) {
	pub, ep := bound(t, zmq.PUB, "tcp://127.0.0.1:*", func(s *zmq.Socket) {
		require.NoError(t, s.SetHeartbeatIvl(50*time.Millisecond))
		require.NoError(t, s.SetHeartbeatTimeout(200*time.Millisecond))
	})
	c := dial(t, ep, Options{Topics: []string{""}})
	require.Equal(t, "PUB", c.Peer)
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		_, _, _, err := c.Drain(nil, 1<<20)
		require.NoError(t, err, "the peer dropped us: PINGs unanswered?")
		_ = c.Wait(time.Now().Add(20 * time.Millisecond))
	}
	require.Greater(t, c.Pings, 5, "the peer sent no PINGs: this test proves nothing")
	// Still subscribed on the same connection.
	for i := 0; ; i++ {
		_, err := pub.SendMessage("T", "after pings")
		require.NoError(t, err)
		got, _, _, err := c.Drain(nil, 1<<20)
		require.NoError(t, err)
		if len(got) > 0 {
			require.Equal(t, []byte("after pings"), got[0].Frames[1])
			return
		}
		require.Less(t, i, 100)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRefusesWhatItCannotSpeak(t *testing.T) {
	ctx := context.Background()
	t.Run("curve", func(t *testing.T) {
		_, secret, err := zmq.NewCurveKeypair()
		require.NoError(t, err)
		_, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", func(s *zmq.Socket) {
			require.NoError(t, s.ServerAuthCurve("global", secret))
		})
		_, err = Dial(ctx, ep, Options{})
		require.ErrorContains(t, err, "CURVE") // libzmq closes without saying which
	})
	t.Run("socket type", func(t *testing.T) {
		_, ep := bound(t, zmq.REP, "tcp://127.0.0.1:*", nil)
		_, err := Dial(ctx, ep, Options{})
		require.Error(t, err)
		// libzmq refuses an incompatible peer itself (ERROR command or a
		// closed connection); either way Dial fails and says so.
		require.Contains(t, err.Error(), "zmtp:")
	})
	t.Run("not zeromq", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		_, err = Dial(ctx, "tcp://"+ln.Addr().String(), Options{})
		require.ErrorContains(t, err, "not a ZeroMQ socket")
	})
	t.Run("silent peer", func(t *testing.T) {
		start := time.Now()
		_, err := Dial(ctx, silentPeer(t), Options{HandshakeTimeout: 200 * time.Millisecond})
		require.Error(t, err)
		require.Less(t, time.Since(start), time.Second)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Dial(cctx, silentPeer(t), Options{})
		require.Error(t, err)
		require.Less(t, time.Since(start), time.Second)
	})
}

// silentPeer is a TCP endpoint that accepts and never answers.
func silentPeer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		if c, err := ln.Accept(); err == nil {
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// With a high SO_RCVLOWAT a small message does not end a wait; the timeout
// does, and the message is there to read. Lowering it lets what is queued
// end the next wait at once. Interrupt ends a wait from another goroutine,
// or the next wait if none is running.
func TestWaitLowatAndInterrupt(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	c := dial(t, ep, Options{Topics: []string{"T"}, RcvLowat: 64 * 1024})
	subscribed(t, xpub, "T")
	_, err := xpub.SendMessage("T", "small")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // on loopback it is queued by now
	require.Equal(t, ErrTimeout, c.Wait(time.Now().Add(200*time.Millisecond)))
	got, empty, at, err := c.Drain(nil, 100)
	require.NoError(t, err)
	require.True(t, empty)
	require.False(t, at.IsZero())
	require.Len(t, got, 1)

	_, err = xpub.SendMessage("T", "queued")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c.SetLowat(1))
	require.NoError(t, c.Wait(time.Now().Add(5*time.Second)), "a queued byte must end the wait once RcvLowat is 1")
	got, _, _, err = c.Drain(nil, 100)
	require.NoError(t, err)
	require.Len(t, got, 1)

	c.Interrupt()
	require.Equal(t, ErrInterrupted, c.Wait(time.Time{}))
	time.AfterFunc(50*time.Millisecond, c.Interrupt)
	start := time.Now()
	require.Equal(t, ErrInterrupted, c.Wait(time.Time{}))
	require.Less(t, time.Since(start), 2*time.Second)
}

// Much more than RcvLowat arriving ends a wait before its time.
func TestWaitEndsOnVolume(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	c := dial(t, ep, Options{Topics: []string{"T"}, RcvLowat: 16 * 1024})
	subscribed(t, xpub, "T")
	payload := strings.Repeat("p", 1000)
	for range 40 {
		_, err := xpub.SendMessage("T", payload)
		require.NoError(t, err)
	}
	start := time.Now()
	require.NoError(t, c.Wait(time.Now().Add(10*time.Second)))
	require.Less(t, time.Since(start), 5*time.Second)
	got := collect(t, c, 40)
	require.Len(t, got, 40)
}

// Whatever a peer sends, the parser neither panics nor keeps more than
// MaxFrame bytes of a frame, and a stream cut anywhere parses the same.
// A peer that closed while nobody was waiting still ends the next wait
// (its readiness edge came before the wait; the wait must look itself).
func TestWaitSeesAnEarlierClose(t *testing.T) {
	for _, lowat := range []int{1, 64 * 1024} {
		runtime.LockOSThread()
		s, err := zmq.NewSocket(zmq.XPUB)
		require.NoError(t, err)
		require.NoError(t, s.Bind("tcp://127.0.0.1:*"))
		ep, _ := s.GetLastEndpoint()
		c := dial(t, ep, Options{Topics: []string{"T"}, RcvLowat: lowat})
		subscribed(t, s, "T")
		_, _, _, err = c.Drain(nil, 10)
		require.NoError(t, err)
		s.SetLinger(0)
		s.Close() // the FIN arrives while nobody waits
		runtime.UnlockOSThread()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		werr := c.Wait(time.Now().Add(5 * time.Second))
		require.NoError(t, werr, "lowat %d", lowat)
		require.Less(t, time.Since(start), time.Second, "lowat %d: the close must end the wait", lowat)
		_, _, _, err = c.Drain(nil, 10)
		require.ErrorIs(t, err, ErrClosed)
	}
}

// idle drains and waits on c until d passes or Drain fails (its error).
func idle(c *Conn, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, _, _, err := c.Drain(nil, 1<<20); err != nil {
			return err
		}
		if err := c.Wait(end); err != nil && err != ErrTimeout {
			return err
		}
	}
	return nil
}

// On an idle connection we PING, and a real libzmq XPUB (the ChemBus
// proxy's socket) answers each with a PONG: the connection stays up.
func TestIdleConnectionPingsAndXPUBAnswers(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	c := dial(t, ep, Options{Topics: []string{"T"}, PingInterval: 100 * time.Millisecond, PingTimeout: 500 * time.Millisecond})
	subscribed(t, xpub, "T")
	end := time.Now().Add(5 * time.Second)
	for c.Pongs() < 3 {
		require.True(t, time.Now().Before(end), "only %d PONGs", c.Pongs())
		require.NoError(t, idle(c, 100*time.Millisecond), "the XPUB must answer our PINGs")
	}
	_, err := xpub.SendMessage("T", "still subscribed")
	require.NoError(t, err)
	require.Equal(t, []byte("still subscribed"), collect(t, c, 1)[0].Frames[1])
}

// A peer that stops answering (a proxy frozen mid-path, the TCP connection
// still open) is found silent within PingInterval + PingTimeout of the last
// byte it sent, and not before.
func TestSilentPeerIsDroppedWithinBound(t *testing.T) {
	const ivl, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	fw := actortest.NewForwarder(t, strings.TrimPrefix(ep, "tcp://"))
	c := dial(t, "tcp://"+fw.Addr, Options{Topics: []string{"T"}, PingInterval: ivl, PingTimeout: timeout})
	subscribed(t, xpub, "T")
	require.NoError(t, idle(c, 3*ivl), "answered while the path is open")
	require.Positive(t, c.Pongs())
	_, err := xpub.SendMessage("T", "last")
	require.NoError(t, err)
	collect(t, c, 1)
	last := time.Now()
	fw.Freeze()
	err = idle(c, 10*time.Second)
	require.ErrorIs(t, err, ErrPeerSilent)
	took := time.Since(last)
	// last is taken just after the last byte was read: the drop comes
	// PingInterval + PingTimeout after that read, so a little less after last.
	require.GreaterOrEqual(t, took, ivl+timeout-100*time.Millisecond, "not before the bound")
	require.Less(t, took, ivl+timeout+time.Second, "within the bound (plus scheduling on a loaded machine)")
}

// PingInterval < 0: no PING is ever sent, the connection is never judged.
func TestPingsOff(t *testing.T) {
	xpub, ep := bound(t, zmq.XPUB, "tcp://127.0.0.1:*", nil)
	fw := actortest.NewForwarder(t, strings.TrimPrefix(ep, "tcp://"))
	c := dial(t, "tcp://"+fw.Addr, Options{Topics: []string{"T"}, PingInterval: -1, PingTimeout: time.Millisecond})
	subscribed(t, xpub, "T")
	fw.Freeze()
	require.NoError(t, idle(c, 300*time.Millisecond))
	require.Zero(t, c.Pongs())
}
