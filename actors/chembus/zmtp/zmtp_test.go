package zmtp

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParserAcrossReads(t *testing.T) {
	var stream []byte
	msg := func(more bool, body []byte) {
		f := frame(body)
		if more {
			f[0] |= 0x01
		}
		stream = append(stream, f...)
	}
	msg(true, []byte("HEARTBEAT"))
	msg(false, bytes.Repeat([]byte("z"), 1000))
	stream = append(stream, command("PONG", nil)...) // ignored
	msg(true, []byte("T"))
	msg(false, nil)

	whole, err := (&parser{maxFrame: 4096}).feed(stream, nil, nil)
	require.NoError(t, err)
	require.Len(t, whole, 2)
	for cut := 1; cut < len(stream); cut++ {
		p := &parser{maxFrame: 4096}
		got, err := p.feed(stream[:cut], nil, nil)
		require.NoError(t, err)
		got, err = p.feed(stream[cut:], got, nil)
		require.NoError(t, err)
		require.Equal(t, whole, got, "cut at %d", cut)
	}
	one := &parser{maxFrame: 4096}
	var got []Message
	for i := range stream {
		got, err = one.feed(stream[i:i+1], got, nil)
		require.NoError(t, err)
	}
	require.Equal(t, whole, got)
}

func TestParserRejectsGarbage(t *testing.T) {
	_, err := (&parser{maxFrame: 10}).feed([]byte{0xF0, 1, 2}, nil, nil)
	require.ErrorContains(t, err, "reserved flag bits")
	_, err = (&parser{maxFrame: 10}).feed([]byte{0x05, 1, 2}, nil, nil)
	require.ErrorContains(t, err, "MORE")
}

func TestEndpoint(t *testing.T) {
	for ep, want := range map[string][2]string{
		"tcp://127.0.0.1:5559": {"tcp", "127.0.0.1:5559"},
		"tcp://[::1]:5559":     {"tcp", "[::1]:5559"},
		"tcp://localhost:1":    {"tcp", "localhost:1"},
		"ipc:///run/chem.sock": {"unix", "/run/chem.sock"},
		"ipc://@abstract":      {"unix", "@abstract"},
	} {
		n, a, err := Endpoint(ep)
		require.NoError(t, err, ep)
		require.Equal(t, want, [2]string{n, a}, ep)
	}
	for _, ep := range []string{"127.0.0.1:5559", "tcp://*:5559", "tcp://127.0.0.1", "inproc://x", "pgm://eth0;239.1.1.1:5555", "tcp://eth0;127.0.0.1:5559", "tcp://"} {
		_, _, err := Endpoint(ep)
		require.Error(t, err, ep)
		require.Contains(t, err.Error(), ep)
	}
}

func FuzzParser(f *testing.F) {
	f.Add(append(frame([]byte("HEARTBEAT")), frame([]byte("{}"))...), 3)
	f.Add([]byte{0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3}, 5) // 2^64-1 bytes announced
	f.Add([]byte{0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00}, 1)
	f.Add(command("PING", []byte{0, 10, 'c', 't', 'x'}), 2)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		pong := func([]byte) error { return nil }
		whole, werr := (&parser{maxFrame: 64}).feed(b, nil, pong)
		for _, m := range whole {
			require.LessOrEqual(t, len(m.Frames), KeepFrames)
			for _, fr := range m.Frames {
				require.LessOrEqual(t, len(fr), 64)
			}
		}
		if len(b) > 0 {
			cut = int(uint(cut) % uint(len(b)))
		} else {
			cut = 0
		}
		p := &parser{maxFrame: 64}
		split, err := p.feed(b[:cut], nil, pong)
		if err == nil {
			split, err = p.feed(b[cut:], split, pong)
		}
		require.Equal(t, werr == nil, err == nil)
		if werr == nil {
			require.Equal(t, whole, split)
		}
	})
}

// scripted is a net.Conn whose peer says exactly the bytes given, then
// closes; what we write is kept.
type scripted struct {
	r     *bytes.Reader
	wrote bytes.Buffer
}

func (c *scripted) Read(b []byte) (int, error) {
	if c.r.Len() == 0 {
		return 0, io.EOF
	}
	return c.r.Read(b)
}
func (c *scripted) Write(b []byte) (int, error)      { return c.wrote.Write(b) }
func (c *scripted) Close() error                     { return nil }
func (c *scripted) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scripted) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scripted) SetDeadline(time.Time) error      { return nil }
func (c *scripted) SetReadDeadline(time.Time) error  { return nil }
func (c *scripted) SetWriteDeadline(time.Time) error { return nil }

// peerGreeting is a ZMTP greeting as libzmq 4.3 sends it (revision 3.1,
// NULL, as-server 0), followed by its READY with the given Socket-Type.
func peerGreeting(socketType string) []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, 3, 1
	copy(g[12:], "NULL")
	return append(g, command("READY", property("Socket-Type", socketType))...)
}

// The handshake against scripted peers: what is accepted and what each
// refusal says.
func TestHandshakeScripted(t *testing.T) {
	ok := func(b []byte) *scripted { return &scripted{r: bytes.NewReader(b)} }
	for name, c := range map[string]struct {
		peer []byte
		want string // error substring; "" for success
	}{
		"xpub":             {peerGreeting("XPUB"), ""},
		"pub":              {peerGreeting("PUB"), ""},
		"long READY":       {append(peerGreeting("XPUB")[:64], append([]byte{0x06, 0, 0, 0, 0, 0, 0, 0, 0x1a}, command("READY", property("Socket-Type", "XPUB"))[2:]...)...), ""},
		"extra properties": {append(peerGreeting("XPUB")[:64], command("READY", append(property("Identity", ""), property("socket-type", "PUB")...))...), ""},
		"rep":              {peerGreeting("REP"), `a "REP" socket`},
		"no socket type":   {append(peerGreeting("XPUB")[:64], command("READY", nil)...), `a "" socket`},
		"error":            {append(peerGreeting("XPUB")[:64], command("ERROR", []byte("\x06denied"))...), `refused the connection: "denied"`},
		"error truncated":  {append(peerGreeting("XPUB")[:64], command("ERROR", []byte("\x09denied"))...), `refused the connection: ""`},
		"subscribe first":  {append(peerGreeting("XPUB")[:64], frame([]byte("x"))...), "expected a command frame"},
		"other command":    {append(peerGreeting("XPUB")[:64], command("PING", nil)...), `got "PING"`},
		"huge command":     {append(peerGreeting("XPUB")[:64], 0x06, 0x7F, 0, 0, 0, 0, 0, 0, 0), "command of"},
		"empty command":    {append(peerGreeting("XPUB")[:64], 0x04, 0x00), "malformed command"},
		"name past body":   {append(peerGreeting("XPUB")[:64], 0x04, 0x02, 0x09, 'R'), "malformed command"},
		"bad property":     {append(peerGreeting("XPUB")[:64], command("READY", []byte{11, 'S'})...), "truncated property"},
		"bad value length": {append(peerGreeting("XPUB")[:64], command("READY", []byte{1, 'a', 0xFF, 0, 0, 0})...), "truncated property value"},
		"curve":            {append(append([]byte{}, peerGreeting("XPUB")[:12]...), append([]byte("CURVE"), make([]byte, 47)...)...), `"CURVE" security`},
		"zmtp 2":           {[]byte{0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 1, 0}, "revision 1"},
		"http":             {[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "not a ZeroMQ socket"},
		"closed early":     {[]byte{0xFF, 0, 0}, "read greeting"},
		"closed at mech":   {peerGreeting("XPUB")[:20], "CURVE or PLAIN"},
		"closed in READY":  {peerGreeting("XPUB")[:70], "read READY"},
	} {
		t.Run(name, func(t *testing.T) {
			conn := ok(c.peer)
			peer, err := handshake(context.Background(), conn, Options{Topics: []string{"HEARTBEAT"}, HandshakeTimeout: time.Second})
			if c.want != "" {
				require.ErrorContains(t, err, c.want)
				return
			}
			require.NoError(t, err)
			require.Contains(t, []string{"PUB", "XPUB"}, peer)
			want := append(greeting(), command("READY", property("Socket-Type", "SUB"))...)
			require.Equal(t, append(want, frame([]byte("\x01HEARTBEAT"))...), conn.wrote.Bytes())
		})
	}
}

// Whatever the peer sends during the handshake, it neither panics nor
// accepts anything but a PUB or XPUB peer that sent a ZMTP 3 NULL greeting
// and a READY; on success our side wrote exactly greeting, READY and the
// subscriptions. Seeds: testdata/fuzz/FuzzHandshake (a real libzmq 4.3.4
// XPUB's greeting and READY, and variants).
func FuzzHandshake(f *testing.F) {
	f.Add(peerGreeting("XPUB"))
	f.Add(peerGreeting("PUB"))
	f.Add(append(peerGreeting("XPUB")[:64], command("ERROR", []byte("\x06denied"))...))
	f.Add(append(peerGreeting("XPUB")[:64], 0x06, 0, 0, 0, 0, 0, 0, 0, 0x1a))
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &scripted{r: bytes.NewReader(b)}
		peer, err := handshake(context.Background(), conn, Options{Topics: []string{"T", ""}, HandshakeTimeout: time.Second})
		if err != nil {
			require.Empty(t, peer)
			return
		}
		require.Contains(t, []string{"PUB", "XPUB"}, peer)
		require.GreaterOrEqual(t, len(b), 64+2+1+5)
		require.Equal(t, byte(0xFF), b[0])
		require.GreaterOrEqual(t, b[10], byte(3))
		require.Equal(t, "NULL", string(bytes.TrimRight(b[12:32], "\x00")))
		want := append(greeting(), command("READY", property("Socket-Type", "SUB"))...)
		want = append(want, frame([]byte("\x01T"))...)
		want = append(want, frame([]byte("\x01"))...)
		require.Equal(t, want, conn.wrote.Bytes())
	})
}
