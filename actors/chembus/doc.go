// Package chembus is the daemon's side of ChemBus — the colony's ZeroMQ bus,
// now called UMN (SPEC §1.2–1.3).
//
// Actors:
//   - ChemBus (New): subscribes to HEARTBEAT and governance.kill, decodes
//     payloads with the bounded scanner (scan.go) and sends
//     *messages.HeartbeatReceived / *messages.KillReceived to the zooid
//     registry; receives *messages.Publish (CAPABILITY_GAP from watchers) and
//     publishes it; sends its own HEARTBEAT every interval. It owns the SUB
//     goroutine (sockets.go: the zmtp reader with SO_RCVLOWAT coalescing), the
//     decoder goroutine and the PUB goroutine with its ZeroMQ context, all
//     released on Stopping and Restarting.
//   - Proxy (NewProxy): binds the XSUB/XPUB proxy in-process when asked or
//     when nobody else has (mode auto), so the daemon runs on a bare machine.
//
// Watermark is shared with the heartbeat registry (which sees it only as
// heartbeat.Pipeline): it lets a watcher at its deadline ask whether a
// heartbeat is still in our own pipeline. tools.go holds what the chembus
// CLI uses (Tail, Publisher, RunProxy); wire.go the payload encoder.
package chembus
