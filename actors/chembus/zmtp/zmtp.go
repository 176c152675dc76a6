// Package zmtp is the receiving end of a ZeroMQ SUB socket spoken directly
// over a Go connection: ZMTP 3.0 with the NULL mechanism, over tcp:// and
// ipc://, towards a PUB or XPUB peer such as the ChemBus proxy.
//
// Why not libzmq's SUB socket: libzmq reads TCP on its own I/O thread, which
// wakes for every message the peer writes — at 100 heartbeats a second that
// thread alone cost ~0.45% of a core on a VM where a wake-up costs ~40 µs,
// and no socket option batches another process's sends. Here the socket is
// ours: SO_RCVLOWAT keeps the kernel from waking anyone until a large amount
// is queued, and the owner reads everything at once when it chooses (its
// coalescing window, or a watcher asking it to drain). A quiet colony then
// costs a few reads a second instead of one wake-up per heartbeat.
//
// A Conn belongs to one goroutine, except Interrupt, which any goroutine may
// call. Publishing stays on libzmq (see actors/chembus/sockets.go).
//
// Conn (conn_linux.go) is Linux-only: its wait relies on Linux's poll(2)
// honouring SO_RCVLOWAT for TCP and on POLLRDHUP. The handshake and the frame
// parser are portable, so they build and are fuzzed everywhere; elsewhere
// the chembus package subscribes through libzmq instead.
//
// Liveness: a connection on which nothing has arrived for PingInterval gets
// a ZMTP 3.1 PING (TTL 0, so the peer never times us out on its side; libzmq
// answers a PING with a PONG whatever revision we greeted with, and its
// XPUB does). If nothing at all — PONG or data — arrives within PingTimeout
// after it, Drain returns ErrPeerSilent and the caller reconnects. A peer
// that stops answering (a half-open connection: a proxy frozen, a host
// gone, a NAT entry dropped) is therefore found at most PingInterval +
// PingTimeout after the last byte it sent, instead of when TCP gives up
// (minutes to hours).
package zmtp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Message is one multipart message.
type Message struct {
	Frames   [][]byte // the first KeepFrames frames, copied
	NFrames  int      // how many frames it had
	Oversize bool     // a frame was larger than MaxFrame; its bytes were skipped
}

// KeepFrames is how many frames of a message are kept; the rest are counted
// (ChemBus messages have exactly two, so three tells a bad one apart).
const KeepFrames = 3

// Options sets a connection.
type Options struct {
	Topics []string // subscriptions ("" for everything)
	// MaxFrame: frames longer than this are not stored (Message.Oversize);
	// a peer cannot make us allocate more. 0: 64 KiB.
	MaxFrame int
	// RcvLowat: the kernel wakes a waiter only once this many bytes are
	// queued (SO_RCVLOWAT; 0 or 1: at any byte). Reads take whatever is
	// queued regardless.
	RcvLowat int
	// HandshakeTimeout bounds the greeting exchange (0: 5 s).
	HandshakeTimeout time.Duration
	// PingInterval: after this long with nothing received, send a PING
	// (0: DefaultPingInterval; negative: never).
	PingInterval time.Duration
	// PingTimeout: a connection that received nothing within this long
	// after a PING is dead (0: DefaultPingTimeout).
	PingTimeout time.Duration
}

// Defaults of Options.PingInterval and PingTimeout: a silent peer is found
// within 20 s of its last byte. ChemBus is never quiet that long on a live
// bus (every zooid, this daemon included, beats every 10 s), so on a live
// bus no PING is ever sent.
const (
	DefaultPingInterval = 10 * time.Second
	DefaultPingTimeout  = 10 * time.Second
)

// ErrPeerSilent is returned by Drain when the peer answered neither a PING
// nor anything else within PingTimeout.
var ErrPeerSilent = errors.New("zmtp: the peer answered no PING: connection dropped as half-open")

// ping encodes a ZMTP 3.1 PING with TTL 0 and context ctx.
func ping(ctx []byte) []byte {
	return command("PING", append([]byte{0, 0}, ctx...))
}

// defaults fills o's zero values.
func (o *Options) defaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = 64 * 1024
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
}

// ErrInterrupted is returned by Wait when Interrupt ended it.
var ErrInterrupted = errors.New("zmtp: wait interrupted")

// ErrTimeout is returned by Wait when its time passed.
var ErrTimeout = errors.New("zmtp: wait timed out")

// Endpoint splits a ZeroMQ endpoint this package can connect to into a Go
// network and address: tcp://host:port and ipc://path (ipc://@name is
// Linux's abstract namespace, as in libzmq).
func Endpoint(ep string) (network, addr string, err error) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%q is not a ZeroMQ endpoint (want tcp://host:port or ipc://path)", ep)
	}
	switch scheme {
	case "tcp":
		if strings.Contains(rest, ";") {
			return "", "", fmt.Errorf("%q: a source address (tcp://src;host:port) is not supported", ep)
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil || port == "" || host == "*" {
			return "", "", fmt.Errorf("%q: want tcp://host:port to connect to", ep)
		}
		return "tcp", net.JoinHostPort(host, port), nil
	case "ipc":
		return "unix", rest, nil
	default:
		return "", "", fmt.Errorf("%q: transport %s:// is not supported for subscribing (tcp:// and ipc:// are)", ep, scheme)
	}
}

// greeting is ZMTP 3.0's, as a SUB client with the NULL mechanism.
func greeting() []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xFF, 0x7F
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	return g
}

// command encodes a ZMTP command frame.
func command(name string, body []byte) []byte {
	n := 1 + len(name) + len(body)
	var out []byte
	if n <= 255 {
		out = append(out, 0x04, byte(n))
	} else {
		out = append(out, 0x06)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, byte(len(name)))
	out = append(out, name...)
	return append(out, body...)
}

// frame encodes a one-frame message.
func frame(body []byte) []byte {
	var out []byte
	if len(body) <= 255 {
		out = append(out, 0x00, byte(len(body)))
	} else {
		out = append(out, 0x02)
		out = binary.BigEndian.AppendUint64(out, uint64(len(body)))
	}
	return append(out, body...)
}

func property(name, value string) []byte {
	out := append([]byte{byte(len(name))}, name...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(value)))
	return append(out, value...)
}

// handshake performs the ZMTP 3.0 handshake on nc as a SUB socket with the
// NULL mechanism and sends the subscriptions; it returns the peer's
// Socket-Type (PUB or XPUB). It is bounded by o.HandshakeTimeout and ctx.
// Every byte it reads comes from the peer: whatever they are, it returns an
// error or a valid peer, never panics, and never allocates more than 64 KiB
// for one command (FuzzHandshake).
func handshake(ctx context.Context, nc net.Conn, o Options) (peer string, err error) {
	deadline := time.Now().Add(o.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer nc.SetDeadline(time.Time{})

	// Subscriptions go out only after the peer's READY: libzmq drops a
	// connection that sends a message while it is still handshaking.
	out := append(greeting(), command("READY", property("Socket-Type", "SUB"))...)
	if _, err := nc.Write(out); err != nil {
		return "", fmt.Errorf("zmtp: send greeting: %w", err)
	}
	g := make([]byte, 64)
	if n, err := readFull(nc, g[:11]); err != nil && n < 10 {
		return "", fmt.Errorf("zmtp: read greeting: %w", err)
	} else if err != nil && (g[0] != 0xFF || g[9]&1 != 1) {
		return "", fmt.Errorf("zmtp: peer is not a ZeroMQ socket (greeting % x)", g[:10])
	} else if err != nil {
		return "", fmt.Errorf("zmtp: the peer closed the handshake after its signature; does it require CURVE or PLAIN security? (only NULL is spoken): %w", err)
	}
	if g[0] != 0xFF || g[9]&1 != 1 {
		return "", fmt.Errorf("zmtp: peer is not a ZeroMQ socket (greeting % x)", g[:10])
	}
	if g[10] < 3 {
		return "", fmt.Errorf("zmtp: peer speaks ZMTP revision %d; ZMTP 3 (libzmq >= 4.0) is needed", g[10])
	}
	if _, err := readFull(nc, g[11:]); err != nil {
		// libzmq closes here when our mechanism is not the one it requires.
		return "", fmt.Errorf("zmtp: the peer closed the handshake after its signature; does it require CURVE or PLAIN security? (only NULL is spoken): %w", err)
	}
	if mech := string(bytes.TrimRight(g[12:32], "\x00")); mech != "NULL" {
		return "", fmt.Errorf("zmtp: peer requires the %q security mechanism; only NULL is supported", mech)
	}
	// The peer's READY (or ERROR).
	name, body, err := readCommand(nc)
	if err != nil {
		return "", fmt.Errorf("zmtp: read READY: %w", err)
	}
	switch name {
	case "READY":
	case "ERROR":
		reason := ""
		if len(body) > 0 && int(body[0]) <= len(body)-1 {
			reason = string(body[1 : 1+body[0]])
		}
		return "", fmt.Errorf("zmtp: peer refused the connection: %q", reason)
	default:
		return "", fmt.Errorf("zmtp: expected READY from the peer, got %q", name)
	}
	props, err := properties(body)
	if err != nil {
		return "", fmt.Errorf("zmtp: peer's READY: %w", err)
	}
	peer = props["socket-type"]
	if peer != "PUB" && peer != "XPUB" {
		return "", fmt.Errorf("zmtp: peer is a %q socket; a SUB socket needs PUB or XPUB", peer)
	}
	var subs []byte
	for _, t := range o.Topics {
		subs = append(subs, frame(append([]byte{1}, t...))...)
	}
	if len(subs) > 0 {
		if _, err := nc.Write(subs); err != nil {
			return "", fmt.Errorf("zmtp: send subscriptions: %w", err)
		}
	}
	return peer, nil
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := nc.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readCommand reads one command frame during the handshake.
func readCommand(nc net.Conn) (string, []byte, error) {
	var h [9]byte
	if _, err := readFull(nc, h[:2]); err != nil {
		return "", nil, err
	}
	if h[0]&0x04 == 0 {
		return "", nil, fmt.Errorf("expected a command frame, got flags %#x", h[0])
	}
	size := uint64(h[1])
	if h[0]&0x02 != 0 {
		if _, err := readFull(nc, h[2:9]); err != nil {
			return "", nil, err
		}
		size = binary.BigEndian.Uint64(h[1:9])
	}
	if size > 64*1024 {
		return "", nil, fmt.Errorf("command of %d bytes", size)
	}
	b := make([]byte, size)
	if _, err := readFull(nc, b); err != nil {
		return "", nil, err
	}
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return "", nil, errors.New("malformed command frame")
	}
	return string(b[1 : 1+b[0]]), b[1+b[0]:], nil
}

// properties decodes READY metadata; names are case-insensitive.
func properties(b []byte) (map[string]string, error) {
	m := map[string]string{}
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+4 {
			return nil, errors.New("truncated property")
		}
		name := strings.ToLower(string(b[1 : 1+n]))
		vl := binary.BigEndian.Uint32(b[1+n:])
		b = b[1+n+4:]
		if uint64(vl) > uint64(len(b)) {
			return nil, errors.New("truncated property value")
		}
		m[name] = string(b[:vl])
		b = b[vl:]
	}
	return m, nil
}

// parser decodes the ZMTP 3.0 frame stream incrementally: a read may end
// anywhere, even inside a frame's size.
type parser struct {
	maxFrame int
	hdr      [9]byte
	hlen     int    // header bytes collected
	left     uint64 // body bytes still to come for the current frame
	keep     []byte // the current frame's body, when kept
	cmd      bool   // the current frame is a command
	more     bool   // the current frame has MORE set
	skip     bool   // the current frame is not stored
	msg      Message
	pongs    int // PONG commands seen
}

func (p *parser) feed(b []byte, out []Message, pong func([]byte) error) ([]Message, error) {
	for len(b) > 0 {
		if p.left == 0 && p.keep == nil && !p.skip {
			// Collecting a header: flags, then 1 or 8 bytes of size.
			p.hdr[p.hlen] = b[0]
			p.hlen++
			b = b[1:]
			flags := p.hdr[0]
			if flags&0xF8 != 0 {
				return out, fmt.Errorf("zmtp: reserved flag bits set (%#x): not a ZMTP 3 stream", flags)
			}
			need := 2
			if flags&0x02 != 0 {
				need = 9
			}
			if p.hlen < need {
				continue
			}
			var size uint64
			if need == 2 {
				size = uint64(p.hdr[1])
			} else {
				size = binary.BigEndian.Uint64(p.hdr[1:9])
			}
			p.hlen = 0
			p.cmd, p.more = flags&0x04 != 0, flags&0x01 != 0
			if p.cmd && p.more {
				return out, errors.New("zmtp: a command frame with MORE set")
			}
			var err error
			if out, err = p.begin(size, out, pong); err != nil {
				return out, err
			}
			continue
		}
		n := uint64(len(b))
		if n > p.left {
			n = p.left
		}
		if p.keep != nil {
			p.keep = append(p.keep, b[:n]...)
		}
		p.left -= n
		b = b[n:]
		if p.left == 0 {
			var err error
			if out, err = p.end(out, pong); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// begin starts a frame of size bytes (an empty frame ends at once).
func (p *parser) begin(size uint64, out []Message, pong func([]byte) error) ([]Message, error) {
	p.left = size
	p.skip = false
	switch {
	case p.cmd && size > 512: // no command we answer is this long
		p.skip = true
	case p.cmd:
		p.keep = make([]byte, 0, size)
	case size > uint64(p.maxFrame):
		p.msg.Oversize = true
		p.skip = true
	case p.msg.NFrames >= KeepFrames:
		p.skip = true
	default:
		p.keep = make([]byte, 0, size)
	}
	if size == 0 {
		return p.end(out, pong)
	}
	return out, nil
}

// end finishes the current frame.
func (p *parser) end(out []Message, pong func([]byte) error) ([]Message, error) {
	body := p.keep
	p.keep, p.skip, p.left = nil, false, 0
	if p.cmd {
		// PING: name, TTL (2 bytes), context (up to 16 bytes) → PONG context.
		if len(body) >= 5 && body[0] == 4 && string(body[1:5]) == "PING" {
			ctx := body[5:]
			if len(ctx) >= 2 {
				ctx = ctx[2:]
			} else {
				ctx = nil
			}
			if len(ctx) > 16 {
				ctx = ctx[:16]
			}
			if err := pong(ctx); err != nil {
				return out, err
			}
		}
		if len(body) >= 5 && body[0] == 4 && string(body[1:5]) == "PONG" {
			p.pongs++
		}
		return out, nil // PONG and unknown commands: nothing else to do
	}
	if body != nil { // nil: skipped (oversize, or past KeepFrames)
		p.msg.Frames = append(p.msg.Frames, body)
	}
	p.msg.NFrames++
	if !p.more {
		out = append(out, p.msg)
		p.msg = Message{}
	}
	return out, nil
}
