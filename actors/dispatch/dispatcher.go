package dispatch

import (
	"log/slog"
	"time"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/observe"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/messages"
)

// Config is the dispatcher section of the daemon's configuration, and the
// dispatcher's wiring to the rules.
type Config struct {
	// DedupWindow: an event whose source:type[:path][:unit] was seen within
	// it is not routed again (operational and critical errors and
	// service_restart excepted: messages.Event.Exempt).
	DedupWindow time.Duration `yaml:"dedup_window"`

	// Routes maps an event type to the rules subscribed to it.
	Routes map[string][]*actor.PID `yaml:"-"`
	// Rules lists every rule (Flush barriers go to all of them).
	Rules []*actor.PID `yaml:"-"`
	// AwaitRoutes holds every event and barrier, in order, until the first
	// *messages.RoutesChanged: the rules manager spawns its rule actors in
	// its own start, and an event routed before they exist would be lost.
	AwaitRoutes bool `yaml:"-"`
	// RoutesFrom, with AwaitRoutes, is asked for the routes at start (the
	// rules manager), in case its own RoutesChanged came before this actor
	// existed.
	RoutesFrom *actor.PID `yaml:"-"`
}

// DefaultConfig is the dispatcher section when nothing is set (SPEC §2.1).
func DefaultConfig() Config { return Config{DedupWindow: 60 * time.Second} }

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) { v.Positive("dedup_window", c.DedupWindow) }

// Dispatcher counts, deduplicates, publishes and routes events.
//
// Receives: *messages.Event and *messages.EventBatch from sources;
// *messages.Flush from a source; *messages.RoutesChanged from the rules
// manager after a reload; *messages.Flushed from the stream's barrier
// subscribers (the spool) and the rules. Publishes every event, with its
// dedup verdict, as *messages.EventsObserved on the observation stream (the
// spool writes them all). Sends events whose dedup key
// (source:type[:path][:unit]) was not seen within DedupWindow — and every
// operational/critical error and service_restart (Event.Exempt) — to the
// rules subscribed to their type, batched per rule when a batch came in; a
// Flush with ReplyTo=dispatcher to every barrier subscriber and every rule,
// answering the source's Flush with Flushed once every path answered.
//
// It owns no goroutine or timer; state is the dedup map (swept every window,
// so it holds at most one window's distinct keys) and the open barriers.
type Dispatcher struct {
	cfg  Config
	deps actors.Deps
	log  *slog.Logger

	seen      map[messages.DedupID]time.Time
	lastSweep time.Time
	counters  map[[2]string]prometheus.Counter
	deduped   map[[2]string]prometheus.Counter

	nextID  uint64
	pending map[uint64]*barrier

	// held keeps what came before the first routes (AwaitRoutes).
	held    []any
	waiting bool
}

// maxHeld bounds what waits for the first routes; past it, events are
// routed with the routes the dispatcher was built with.
const maxHeld = 100000

type barrier struct {
	orig    *messages.Flush
	waiting int
	since   time.Time
}

// barrierTimeout is how long a barrier may wait for its answers before it is
// considered lost (a rule restarted and dropped it); the source then sends a
// new one.
const barrierTimeout = time.Minute

// New returns the dispatcher's producer.
func New(cfg Config, deps actors.Deps) actor.Producer {
	return func() actor.Actor {
		return &Dispatcher{cfg: cfg, deps: deps, log: deps.Logger.With("actor", "dispatcher"),
			seen: map[messages.DedupID]time.Time{}, counters: map[[2]string]prometheus.Counter{},
			deduped: map[[2]string]prometheus.Counter{}, pending: map[uint64]*barrier{}, waiting: cfg.AwaitRoutes}
	}
}

// Receive implements actor.Actor.
func (d *Dispatcher) Receive(ctx actor.Context) {
	if d.waiting {
		switch m := ctx.Message().(type) {
		case *messages.Event, *messages.EventBatch, *messages.Flush:
			if len(d.held) < maxHeld {
				d.held = append(d.held, m)
				return
			}
			d.log.Warn("no routes from the rules manager yet; routing with the ones at start", "held", len(d.held))
			d.release(ctx)
		case *messages.RoutesChanged:
			d.receive(ctx, m)
			d.release(ctx)
			return
		}
	}
	d.receive(ctx, ctx.Message())
}

// release handles, in order, what was held waiting for the first routes.
func (d *Dispatcher) release(ctx actor.Context) {
	d.waiting = false
	held := d.held
	d.held = nil
	for _, m := range held {
		d.receive(ctx, m)
	}
}

func (d *Dispatcher) receive(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *actor.Started:
		if d.waiting && d.cfg.RoutesFrom != nil {
			ctx.Request(d.cfg.RoutesFrom, &messages.RoutesRequest{})
		}
	case *actor.Stopping, *actor.Restarting, *actor.Stopped:
	case *messages.Event:
		now := d.deps.Clock.Now()
		d.sweep(now)
		pass := d.admit(m, now)
		if d.deps.Stream.Wants(observe.Events) {
			one := &observedOne{}
			one.ev[0] = messages.ObservedEvent{Event: m, Duplicate: !pass}
			one.EventsObserved = messages.EventsObserved{At: now, Events: one.ev[:]}
			d.deps.Stream.Publish(&one.EventsObserved)
		}
		if pass {
			for _, pid := range d.cfg.Routes[m.Type] {
				ctx.Send(pid, m)
			}
		}
	case *messages.EventBatch:
		d.batch(ctx, m)
	case *messages.Flush:
		d.flush(ctx, m)
	case *messages.RoutesChanged:
		// Every event before this message went to the old routes; every one
		// after goes to the new. A retired rule gets its PoisonPill behind
		// what it was already sent, so it finishes that work first.
		d.cfg.Routes, d.cfg.Rules = m.Routes, m.Rules
		for _, pid := range m.Retire {
			ctx.Poison(pid)
		}
	case *messages.Flushed:
		b, ok := d.pending[m.ID]
		if !ok {
			return // a barrier already given up on
		}
		if b.waiting--; b.waiting == 0 {
			delete(d.pending, m.ID)
			ctx.Send(b.orig.ReplyTo, &messages.Flushed{ID: b.orig.ID})
		}
	default:
		actors.Unhandled(d.log, m)
	}
}

// observedOne publishes a single event in one allocation (the payload and
// its one-element slice together): what the dispatcher does per event when
// sources send one at a time and someone watches the stream.
type observedOne struct {
	messages.EventsObserved
	ev [1]messages.ObservedEvent
}

func (d *Dispatcher) batch(ctx actor.Context, m *messages.EventBatch) {
	now := d.deps.Clock.Now()
	d.sweep(now)
	var seen []messages.ObservedEvent
	if d.deps.Stream.Wants(observe.Events) {
		seen = make([]messages.ObservedEvent, len(m.Events))
	}
	var out map[*actor.PID][]*messages.Event
	for i, ev := range m.Events {
		pass := d.admit(ev, now)
		if seen != nil {
			seen[i] = messages.ObservedEvent{Event: ev, Duplicate: !pass}
		}
		if !pass {
			continue
		}
		for _, pid := range d.cfg.Routes[ev.Type] {
			if out == nil {
				out = map[*actor.PID][]*messages.Event{}
			}
			out[pid] = append(out[pid], ev)
		}
	}
	if seen != nil {
		d.deps.Stream.Publish(&messages.EventsObserved{At: now, Events: seen})
	}
	for pid, evs := range out {
		ctx.Send(pid, &messages.EventBatch{Events: evs})
	}
}

// admit counts the event and reports whether it passes dedup.
func (d *Dispatcher) admit(ev *messages.Event, now time.Time) bool {
	key := [2]string{ev.Source, ev.Type}
	c, ok := d.counters[key]
	if !ok {
		c = d.deps.Metrics.Core.Events.WithLabelValues(ev.Source, ev.Type)
		d.counters[key] = c
	}
	c.Inc()
	if ev.Exempt() {
		return true
	}
	k := ev.ID()
	if at, dup := d.seen[k]; dup && now.Sub(at) < d.cfg.DedupWindow {
		c, ok := d.deduped[key]
		if !ok {
			c = d.deps.Metrics.Core.EventsDeduped.WithLabelValues(ev.Source, ev.Type)
			d.deduped[key] = c
		}
		c.Inc()
		return false
	}
	d.seen[k] = now
	return true
}

func (d *Dispatcher) sweep(now time.Time) {
	if now.Sub(d.lastSweep) < d.cfg.DedupWindow {
		return
	}
	d.lastSweep = now
	for k, at := range d.seen {
		if now.Sub(at) >= d.cfg.DedupWindow {
			delete(d.seen, k)
		}
	}
}

func (d *Dispatcher) flush(ctx actor.Context, m *messages.Flush) {
	now := d.deps.Clock.Now()
	for id, b := range d.pending {
		if now.Sub(b.since) > barrierTimeout {
			d.log.Warn("flush barrier lost (a receiver restarted); the source will send another", "flush_id", b.orig.ID)
			delete(d.pending, id)
		}
	}
	targets := append(d.deps.Stream.Barriers(), d.cfg.Rules...)
	if len(targets) == 0 {
		ctx.Send(m.ReplyTo, &messages.Flushed{ID: m.ID})
		return
	}
	d.nextID++
	d.pending[d.nextID] = &barrier{orig: m, waiting: len(targets), since: now}
	for _, pid := range targets {
		ctx.Send(pid, &messages.Flush{ID: d.nextID, ReplyTo: ctx.Self()})
	}
}
