package chembus

import "fmt"

// Subscriber kinds: the value of chembus.subscriber.
const (
	// SubscriberZMTP is our own ZMTP reader (sub_zmtp_linux.go): it reads
	// the proxy's connection itself, coalescing reads (chembus.coalesce)
	// with SO_RCVLOWAT so a quiet colony costs a few reads a second.
	// Linux-only; elsewhere it falls back to SubscriberLibzmq.
	SubscriberZMTP = "zmtp"
	// SubscriberLibzmq is libzmq's own SUB socket (sub_libzmq.go), for a
	// peer our reader has not met or misreads: the operator's way back.
	SubscriberLibzmq = "libzmq"
)

// DefaultSubscriber is chembus.subscriber's default.
const DefaultSubscriber = SubscriberZMTP

// ValidateSubscriber checks a chembus.subscriber value; the error names the
// key and the value.
func ValidateSubscriber(kind string) error {
	switch kind {
	case SubscriberZMTP, SubscriberLibzmq:
		return nil
	}
	return fmt.Errorf("chembus.subscriber = %q: must be %s or %s", kind, SubscriberZMTP, SubscriberLibzmq)
}

// effectiveSubscriber is the subscriber that runs for kind on this platform
// ("" is the default).
func effectiveSubscriber(kind string) string {
	if kind == SubscriberLibzmq || !zmtpSupported {
		return SubscriberLibzmq
	}
	return SubscriberZMTP
}

// runSubscriber runs the SUB side of kind until stop is closed (see subLoop
// and libzmqSubLoop): both hand batches of raw messages, with the window in
// which they arrived, to the same decoder and keep the same watermark.
func runSubscriber(kind string, opts subOptions, out chan<- rawBatch, stop <-chan struct{}) {
	if effectiveSubscriber(kind) == SubscriberLibzmq {
		libzmqSubLoop(opts, out, stop)
		return
	}
	subLoop(opts, out, stop)
}

// handOver gives a batch read by a SUB side to the decoder: inline when it
// is idle (everything handed over before was consumed; see
// subOptions.inline), else through out. It reports false if stop closed
// first.
func handOver(b rawBatch, opts subOptions, wm *Watermark, out chan<- rawBatch, stop <-chan struct{}) bool {
	idle := wm.handed.Load() == wm.consumed.Load()
	wm.handed.Add(int64(len(b.msgs))) // before emptyAt: see Watermark
	if idle && opts.inline != nil {
		opts.inline(b)
		return true
	}
	select {
	case out <- b:
		return true
	case <-stop:
		return false
	}
}
