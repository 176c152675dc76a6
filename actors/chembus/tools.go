package chembus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/kloros/kloros-observer/actors/chembus/zmtp"
)

// Helpers for cmd/chembus, a developer tool. They use the same socket and
// wire code as the daemon.

// RunProxy binds an XSUB/XPUB proxy and runs it until ctx is done.
func RunProxy(ctx context.Context, xsub, xpub string) error {
	p, err := startProxy(xsub, xpub)
	if err != nil {
		return err
	}
	<-ctx.Done()
	p.stop()
	return nil
}

// Tail subscribes to topics ("" for all) and calls fn for each message until
// ctx is done.
func Tail(ctx context.Context, xpub string, topics []string, fn func(topic string, payload []byte)) error {
	return TailLog(ctx, xpub, topics, nil, fn)
}

// TailLog is Tail with the SUB side's connection log (connected, cannot
// connect, lost) going to log, so a tool can tell its user it is still
// connecting. log may be nil.
func TailLog(ctx context.Context, xpub string, topics []string, log *slog.Logger, fn func(topic string, payload []byte)) error {
	if _, _, err := zmtp.Endpoint(xpub); err != nil {
		return err
	}
	out := make(chan rawBatch, 64)
	stop := make(chan struct{})
	opts := subOptions{xpub: xpub, topics: topics, maxFrame: 16 << 20, log: log}
	go func() { runSubscriber(DefaultSubscriber, opts, out, stop); close(out) }()
	for {
		select {
		case <-ctx.Done():
			close(stop)
			for range out {
			}
			return nil
		case batch, ok := <-out:
			if !ok {
				return nil
			}
			for _, m := range batch.msgs {
				switch {
				case m.NFrames != 2:
					fn(fmt.Sprintf("<%d frames>", m.NFrames), nil)
				case m.Oversize:
					fn("<a frame over 16 MiB>", nil)
				default:
					fn(string(m.Frames[0]), m.Frames[1])
				}
			}
		}
	}
}

// Publisher publishes on ChemBus from any goroutine (through its own
// socket goroutine). Close delivers what is queued (up to linger).
type Publisher struct {
	zctx *zmq.Context
	in   chan outMsg
	done chan error
}

// NewPublisher connects a PUB socket to xsub.
func NewPublisher(xsub string, linger time.Duration) (*Publisher, error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	p := &Publisher{zctx: zctx, in: make(chan outMsg, 100000), done: make(chan error, 1)}
	go func() { p.done <- pubLoop(zctx, xsub, linger, p.in, func(string, error) {}) }()
	return p, nil
}

// Send queues one message.
func (p *Publisher) Send(topic string, payload []byte) {
	p.in <- outMsg{topic: topic, payload: payload}
}

// Close flushes and releases the socket.
func (p *Publisher) Close() error {
	close(p.in)
	err := <-p.done
	p.zctx.Term()
	return err
}
