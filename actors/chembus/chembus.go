package chembus

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// ChemBus is this process's ChemBus citizen.
//
// It owns three goroutines: the SUB side's (Config.Subscriber: our ZMTP
// reader, or libzmq's SUB socket on a goroutine locked to its thread; hands
// raw messages over in batches), a decoder (validates and decodes off the
// socket thread, counts and rate-limits logs of bad messages, delivers
// *messages.HeartbeatReceived to the registry and governance.kill to this
// actor) and the PUB socket's (locked to its thread; publishes what this
// actor queues). Receives: *messages.Publish; *messages.KillReceived (from
// its decoder); its own heartbeat tick. It sends its own HEARTBEAT every
// HeartbeatInterval. On Stopping and Restarting it stops the SUB side, lets
// the PUB socket deliver what is queued (bounded by Linger) and terminates
// its ZeroMQ context — closing a socket alone drops what is queued.
type ChemBus struct {
	cfg  Config
	deps actors.Deps
	log  *slog.Logger

	zctx      *zmq.Context
	pub       chan outMsg
	stopSub   chan struct{}
	subDone   chan struct{}
	decDone   chan struct{}
	pubDone   chan struct{}
	beats     atomic.Int64 // heartbeats received (our processed_count)
	connected atomic.Bool
	stopBeat  timer.Cancel
}

type ownBeat struct{}

// health records whether the SUB side is connected (Connected) and publishes
// the change on the observation stream. Called from the SUB goroutine.
func (c *ChemBus) health(up bool, detail string) {
	c.connected.Store(up)
	c.deps.Stream.Publish(&messages.SourceObserved{At: time.Now(), Source: "chembus", Target: c.cfg.XPub, Healthy: up, Detail: detail})
}

// Connected reports whether the SUB side is subscribed on the proxy now.
func (c *ChemBus) Connected() bool { return c.connected.Load() }

// New returns the ChemBus actor's producer.
func New(cfg Config, deps actors.Deps) actor.Producer {
	if cfg.Linger <= 0 {
		cfg.Linger = 2 * time.Second
	}
	if cfg.Subscriber == "" {
		cfg.Subscriber = DefaultSubscriber
	}
	return func() actor.Actor { return &ChemBus{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (c *ChemBus) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		c.release()
	case *messages.Publish:
		c.publish(m)
	case ownBeat:
		c.heartbeat()
	case *messages.KillReceived:
		c.kill(ctx, m)
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(c.log, m)
	}
}

func (c *ChemBus) start(ctx actor.Context) {
	c.log = c.deps.Logger.With("actor", "chembus")
	if err := ValidateSubscriber(c.cfg.Subscriber); err != nil {
		panic(&actors.ConfigError{Field: "chembus.subscriber", Value: c.cfg.Subscriber, Why: "must be zmtp or libzmq"})
	}
	subscriber := effectiveSubscriber(c.cfg.Subscriber)
	if subscriber != c.cfg.Subscriber {
		c.log.Warn("the zmtp subscriber is Linux-only; subscribing through libzmq", "goos", runtime.GOOS)
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		panic(fmt.Errorf("zeromq context: %w", err))
	}
	c.zctx = zctx
	if wm := c.cfg.Watermark; wm != nil {
		// A previous incarnation's goroutines are gone; what they handed
		// over but did not decode never will be.
		wm.consumed.Store(wm.handed.Load())
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	report := func(f *actors.GoroutineFailed) { root.Send(self, f) }
	m := c.deps.Metrics.ChemBus

	c.pub, c.pubDone = make(chan outMsg, 4096), make(chan struct{})
	go func() {
		defer close(c.pubDone)
		defer actors.Recover("chembus publisher", report)
		err := pubLoop(zctx, c.cfg.XSub, c.cfg.Linger, c.pub, func(topic string, err error) {
			if err != nil {
				m.PublishErrors.Inc()
				return
			}
			m.Published.WithLabelValues(topic).Inc()
		})
		if err != nil {
			report(&actors.GoroutineFailed{Err: err})
		}
	}()

	raw := make(chan rawBatch, 64)
	wm := c.cfg.Watermark
	if wm == nil {
		wm = NewWatermark() // nobody watches; the SUB side and the decoder still share it
	}
	dec := c.newDecoder(wm, root, self)
	c.stopSub, c.subDone, c.decDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	proxyUp := c.proxyReady(ctx)
	go func() {
		defer close(c.subDone)
		defer close(raw)
		defer actors.Recover("chembus subscriber", report)
		select { // connect once the embedded proxy (if any) is bound, not before
		case <-proxyUp:
		case <-c.stopSub:
			return
		}
		opts := subOptions{xpub: c.cfg.XPub, topics: []string{messages.TopicHeartbeat, messages.TopicKill}, maxFrame: c.cfg.MaxFrameBytes,
			coalesce: c.cfg.Coalesce, wm: wm, log: c.log, inline: dec.batch, health: c.health,
			pingInterval: c.cfg.PingInterval, pingTimeout: c.cfg.PingTimeout}
		runSubscriber(subscriber, opts, raw, c.stopSub) // connection failures are retried and logged inside
	}()
	go func() {
		defer close(c.decDone)
		defer actors.Recover("chembus decoder", report)
		for b := range raw {
			dec.batch(b)
		}
	}()
	c.stopBeat = timer.Every(ctx.ActorSystem(), 0, c.cfg.HeartbeatInterval, self, ownBeat{})
	c.log.Info("on ChemBus", "xsub", c.cfg.XSub, "xpub", c.cfg.XPub, "zooid", c.cfg.Zooid, "subscriber", subscriber)
}

// proxyReady returns a channel closed once the proxy actor has done its
// start (bound the embedded proxy, or found one bound): it processes this
// request after its Started, so the SUB side does not dial a port nobody
// has bound yet and log a failure for nothing. Bounded: a proxy actor that
// does not answer within 5 s (restarting) does not hold the SUB side back.
func (c *ChemBus) proxyReady(ctx actor.Context) <-chan struct{} {
	ready := make(chan struct{})
	if c.cfg.ProxyActor == nil {
		close(ready)
		return ready
	}
	f := ctx.RequestFuture(c.cfg.ProxyActor, &messages.ProxyReadyRequest{}, 5*time.Second)
	go func() {
		defer close(ready)
		_, _ = f.Result()
	}()
	return ready
}

// busDecoder validates, counts and delivers what the SUB side read. It runs
// on its own goroutine, or inline on the SUB goroutine when it has nothing
// pending (never both at once: see subOptions.inline).
type busDecoder struct {
	c          *ChemBus
	wm         *Watermark
	root       *actor.RootContext
	self       *actor.PID
	lastLog    map[string]time.Time
	hbs, kills prometheus.Counter
}

func (c *ChemBus) newDecoder(wm *Watermark, root *actor.RootContext, self *actor.PID) *busDecoder {
	m := c.deps.Metrics.ChemBus
	return &busDecoder{c: c, wm: wm, root: root, self: self, lastLog: map[string]time.Time{},
		hbs: m.Received.WithLabelValues(messages.TopicHeartbeat), kills: m.Received.WithLabelValues(messages.TopicKill)}
}

func (d *busDecoder) batch(batch rawBatch) {
	c, m := d.c, d.c.deps.Metrics.ChemBus
	for _, msg := range batch.msgs {
		var dec decoded
		switch {
		case msg.NFrames != 2:
			dec.reason = "frame_count"
		case msg.Oversize:
			dec.reason = "oversize"
		default:
			dec = decodeFrames(msg.Frames, c.cfg.MaxFrameBytes, batch.hi)
		}
		switch {
		case dec.reason != "":
			m.Dropped.WithLabelValues(dec.reason).Inc()
			if time.Since(d.lastLog[dec.reason]) >= time.Minute { // at most once per reason per minute
				d.lastLog[dec.reason] = time.Now()
				c.log.Warn("dropped malformed ChemBus message", "reason", dec.reason, "frames", msg.NFrames)
			}
		case dec.hb != nil:
			d.hbs.Inc()
			c.beats.Add(1)
			dec.hb.At = arrival(dec.hb.SentTS, batch.lo, batch.hi)
			dec.hb.Seq = d.wm.forwarded.Add(1)
			d.root.Send(c.cfg.Registry, dec.hb)
		case dec.kill != nil:
			d.kills.Inc()
			d.root.Send(d.self, dec.kill)
		}
		d.wm.consumed.Add(1) // last: the SUB goroutine may decode inline once this catches up
	}
}

// arrival estimates when a message sent at ts (the sender's time.time())
// reached our socket, knowing it arrived in [lo, hi]: the sender's time
// clamped into the window, carried on hi's monotonic clock. On one host the
// sender's clock is ours, so this undoes the coalescing delay; a skewed or
// missing ts falls back to an edge of the window.
func arrival(ts float64, lo, hi time.Time) time.Time {
	if ts <= 0 || math.IsNaN(ts) {
		return hi
	}
	before := time.Duration((float64(hi.UnixNano())/1e9 - ts) * 1e9)
	if before <= 0 {
		return hi
	}
	return hi.Add(-min(before, hi.Sub(lo)))
}

func (c *ChemBus) release() {
	if c.stopBeat != nil {
		c.stopBeat()
		c.stopBeat = nil
	}
	if c.zctx == nil {
		return
	}
	close(c.stopSub)
	<-c.subDone
	<-c.decDone
	close(c.pub)
	<-c.pubDone // the PUB socket closed after lingering over what was queued
	c.zctx.Term()
	c.zctx = nil
}

func (c *ChemBus) publish(m *messages.Publish) {
	payload, err := EncodeSignal(&m.Signal)
	if err != nil {
		c.deps.Metrics.ChemBus.PublishErrors.Inc()
		c.log.Error("signal cannot be encoded", "topic", m.Topic, "err", err)
		return
	}
	select {
	case c.pub <- outMsg{topic: m.Topic, payload: payload}:
	default:
		c.deps.Metrics.ChemBus.PublishErrors.Inc()
		c.log.Error("publish queue full, message dropped", "topic", m.Topic)
	}
}

// heartbeat sends our own HEARTBEAT. Unlike today's Python producers,
// uptime_s is the real uptime of this process in seconds.
func (c *ChemBus) heartbeat() {
	c.publish(&messages.Publish{Topic: messages.TopicHeartbeat, Signal: messages.Signal{
		Signal: messages.TopicHeartbeat, Ecosystem: "colony", Intensity: 1.0,
		Facts: map[string]any{"zooid": c.cfg.Zooid, "niche": c.cfg.Niche,
			"uptime_s": time.Since(c.cfg.ProcessStart).Seconds(), "processed_count": c.beats.Load()},
		TS: intentfile.Epoch(c.deps.Clock.Now()),
	}})
}

func (c *ChemBus) kill(ctx actor.Context, m *messages.KillReceived) {
	switch c.cfg.OnKill {
	case "ignore":
		c.log.Warn("governance.kill received; ignoring it (chembus.on_kill=ignore)", "facts", fmt.Sprint(m.Facts))
	case "exit":
		ctx.Send(c.cfg.Registry, m) // gaps stay paused while the tree drains
		if c.cfg.Stop == nil {
			c.log.Error("governance.kill received; chembus.on_kill=exit but nothing can stop the daemon here: pausing instead", "facts", fmt.Sprint(m.Facts))
			return
		}
		c.log.Error("governance.kill received; shutting down (chembus.on_kill=exit)", "facts", fmt.Sprint(m.Facts))
		// The same path as SIGTERM from systemd: an ordered shutdown, exit 0.
		c.cfg.Stop("governance.kill (chembus.on_kill=exit)")
	default:
		ctx.Send(c.cfg.Registry, m) // the registry pauses gap publishing and says so
	}
}

// Proxy runs the XSUB/XPUB proxy inside this process when asked
// (mode embedded), or when nothing else has bound the endpoints (mode auto),
// so the daemon works on a bare machine. Mode external never binds.
// Releases the proxy on Stopping and Restarting.
type Proxy struct {
	mode, xsub, xpub string
	deps             actors.Deps
	log              *slog.Logger
	p                *proxy
}

// NewProxy returns the proxy actor's producer.
func NewProxy(mode, xsub, xpub string, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &Proxy{mode: mode, xsub: xsub, xpub: xpub, deps: deps} }
}

// Receive implements actor.Actor.
func (a *Proxy) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.log = a.deps.Logger.With("actor", "chembus_proxy")
		if a.mode == "external" {
			a.log.Info("using the external ChemBus proxy", "xsub", a.xsub, "xpub", a.xpub)
			return
		}
		p, err := startProxy(a.xsub, a.xpub)
		switch {
		case err == nil:
			a.p = p
			a.deps.Metrics.ChemBus.ProxyEmbedded.Set(1)
			a.log.Info("running an embedded ChemBus proxy", "xsub", a.xsub, "xpub", a.xpub, "mode", a.mode)
		case a.mode == "auto" && isAddrInUse(err):
			a.log.Info("a ChemBus proxy is already bound; using it", "xsub", a.xsub, "xpub", a.xpub)
		default:
			panic(&actors.ConfigError{Field: "chembus.proxy", Value: a.mode, Why: "cannot run the embedded proxy: " + err.Error()})
		}
	case *messages.ProxyReadyRequest:
		ctx.Respond(&messages.ProxyReadyResponse{Embedded: a.p != nil})
	case *actor.Stopping, *actor.Restarting:
		if a.p != nil {
			a.p.stop()
			a.p = nil
			a.deps.Metrics.ChemBus.ProxyEmbedded.Set(0)
		}
	default:
		actors.Unhandled(a.log, m)
	}
}

func isAddrInUse(err error) bool { return errors.Is(err, ErrAddrInUse) }
