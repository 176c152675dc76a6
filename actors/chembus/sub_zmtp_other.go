//go:build !linux

package chembus

// zmtpSupported: our own ZMTP reader is Linux-only (package zmtp); here
// chembus.subscriber zmtp subscribes through libzmq, and says so at start.
const zmtpSupported = false

// subLoop is libzmqSubLoop off Linux.
func subLoop(opts subOptions, out chan<- rawBatch, stop <-chan struct{}) {
	libzmqSubLoop(opts, out, stop)
}
