// Package chembus is the daemon's side of ChemBus — the colony's ZeroMQ bus,
// now called UMN (SPEC §1.2–1.3).
//
// Actors:
//   - ChemBus (New): subscribes to HEARTBEAT and governance.kill, decodes
//     payloads with the bounded scanner (scan.go) and sends
//     *messages.HeartbeatReceived / *messages.KillReceived to the zooid
//     registry; receives *messages.Publish (CAPABILITY_GAP from watchers) and
//     publishes it; sends its own HEARTBEAT every interval. It owns the SUB
//     goroutine, the decoder goroutine and the PUB goroutine with its ZeroMQ
//     context, all released on Stopping and Restarting. With
//     chembus.on_kill=exit it asks the tree to stop through Config.Stop
//     (never a signal to its own process).
//   - Proxy (NewProxy): binds the XSUB/XPUB proxy in-process when asked or
//     when nobody else has (mode auto), so the daemon runs on a bare machine.
//
// The SUB side (subscriber.go; chembus.subscriber) is one of two:
//   - zmtp (default; sub_zmtp_linux.go): our own ZMTP reader (package zmtp)
//     with SO_RCVLOWAT coalescing, so a quiet colony costs a few reads a
//     second. Linux-only: elsewhere it falls back to libzmq and logs so.
//   - libzmq (sub_libzmq.go): libzmq's SUB socket on one goroutine locked to
//     its thread — the operator's way back if our reader misreads a peer.
//     It feeds the same decoder and watermark; it does not coalesce (see
//     libzmqSubLoop for everything that differs).
//
// Both find a half-open connection: the zmtp side PINGs a connection on
// which nothing arrived for 10 s (ZMTP 3.1; a live bus rarely is that
// quiet: every zooid, this daemon included, beats every 10 s) and drops it
// when nothing answers within 10 s more; the libzmq side sets
// ZMQ_HEARTBEAT_IVL/TIMEOUT to the same 10 s/10 s (libzmq PINGs every
// interval, busy or not). Either way a proxy that stops answering is
// dropped at most 20 s after its last byte, and connected to again (zmtp:
// at once, then backing off from 100 ms to 5 s, each attempt bounded by a
// 5 s handshake; libzmq: its reconnect interval, 100 ms to 5 s).
//
// Watermark is shared with the heartbeat registry (which sees it only as
// heartbeat.Pipeline): it lets a watcher at its deadline ask whether a
// heartbeat is still in our own pipeline. tools.go holds what the chembus
// CLI uses (Tail, Publisher, RunProxy); wire.go the payload encoder.
//
// Publishing is a libzmq PUB socket (github.com/pebbe/zmq4) owned by one
// goroutine locked to its OS thread; actors hand it messages on a channel. At
// shutdown it lingers so queued messages still go out, and stays connected up
// to 500 ms after its last send (a proxy drops what it has not yet forwarded
// when its publisher disconnects).
//
// Why our own SUB reader: libzmq reads TCP on its
// own I/O thread, which wakes for every message the proxy writes — at 100
// heartbeats/s that thread alone cost ~0.45% of a core on the 2-core VM, and
// nothing on our side can batch another process's writes. With our own socket,
// while heartbeats keep coming SO_RCVLOWAT is set high, so the kernel queues
// them without waking anyone, and the SUB goroutine reads them all once per
// chembus.coalesce (--chem-coalesce, 1 s) on the process's timer grid
// (actors/timer.NextTick); after a read that found nothing it lowers
// SO_RCVLOWAT to one byte, so a quiet bus costs nothing and the next message
// (a governance.kill, a recovery) is read at once. It reconnects whenever the
// connection fails (100 ms doubling to 5 s, as libzmq does), logging at most
// once a minute while the proxy is down. It is tested against real libzmq
// XPUB/PUB sockets, the proxy and a Python peer.
//
// Coalescing costs no accuracy. Each heartbeat is stamped with its arrival
// time (the sender's ts, clamped into the window in which it must have
// arrived), and a watcher whose deadline passes first has the socket read at
// once and waits until every heartbeat that arrived before its deadline has
// been applied — the Watermark over socket, decoder and registry, bounded at
// 1 s — so a heartbeat still in our own queues never causes a false gap.
//
// Validation. Decoding runs inline on the SUB goroutine when nothing is
// pending and on its own goroutine under load, with a single-pass validating
// scanner (scan.go). Every message is checked — exactly two frames, size
// limit (chembus.max_frame_bytes, 64 KiB; a larger frame is skipped as it
// streams, never stored), a known topic matching the payload's signal, a
// valid UTF-8 JSON object, facts.zooid a printable non-empty string of at most
// 256 bytes, numbers numeric — and a bad one is dropped, counted by reason
// (kloros_observer_chembus_messages_dropped_total{reason}) and logged at most
// once per reason per minute. Unknown payload fields (the colony's "channel")
// are accepted and ignored.
//
// One wake-up a second: the SUB side's reads, the lag probe, the deadline
// refresh and the registry's sweep all tick on one process-wide grid, so with
// 1,000 zooids beating the whole daemon wakes about once a second (0.30–0.47%
// of a core on the 2-core VM with an external proxy; bench/RESULTS.md, "CPU
// with 1,000 zooids beating every 10 s").
package chembus
