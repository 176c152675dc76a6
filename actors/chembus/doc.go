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
package chembus
