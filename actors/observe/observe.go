// Package observe is the observation stream: one typed fan-out of what the
// daemon sees and does, which any output can subscribe to without its
// producers knowing (alertmanager's notifier interface, protoactor's
// EventStream).
//
// Producers call Stream.Publish with one of the payloads of
// messages/observe.go: the dispatcher (events with their dedup verdict), the
// emitter (intents written, deduplicated, failed), rule actors (firings), the
// zooid registry (gaps opened/repeated/closed, zooids first seen/forgotten),
// the supervision strategy (actor failures, restarts, escalations) and the
// sources (health changes). Subscribers are the spool (an actor), the
// dashboard's rings and live feed, and `tap`.
//
// A slow subscriber can never slow the pipeline. Publish never blocks: a
// channel subscriber has a bounded buffer and what does not fit is dropped
// and counted for that subscriber; an actor subscriber gets the payload as a
// message in its own (bounded) mailbox, whose drops the mailbox counts. With
// no subscriber for a kind, Publish is one atomic load.
//
// Owns nothing that runs: no goroutine, no timer. A nil *Stream is valid and
// publishes nowhere, so tests and tools can leave it out.
package observe

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/messages"
)

// Kind is a set of observation kinds (a bit mask).
type Kind uint32

// The kinds, one per payload type.
const (
	Events  Kind = 1 << iota // *messages.EventsObserved
	Intents                  // *messages.IntentObserved
	Rules                    // *messages.RuleFired
	Gaps                     // *messages.GapObserved
	Zooids                   // *messages.ZooidObserved
	Actors                   // *messages.ActorObserved
	Sources                  // *messages.SourceObserved

	All = Events | Intents | Rules | Gaps | Zooids | Actors | Sources
)

var kindNames = []struct {
	k    Kind
	name string
}{{Events, "event"}, {Intents, "intent"}, {Rules, "rule"}, {Gaps, "gap"}, {Zooids, "zooid"}, {Actors, "actor"}, {Sources, "source"}}

// KindNames lists the name of every kind, in a fixed order.
func KindNames() []string {
	out := make([]string, len(kindNames))
	for i, kn := range kindNames {
		out[i] = kn.name
	}
	return out
}

// String names the kinds in k, comma-separated.
func (k Kind) String() string {
	var parts []string
	for _, kn := range kindNames {
		if k&kn.k != 0 {
			parts = append(parts, kn.name)
		}
	}
	return strings.Join(parts, ",")
}

// ParseKinds reads kind names ("event", "gap", ...; a comma-separated list or
// several arguments). No names means All.
func ParseKinds(names ...string) (Kind, error) {
	var k Kind
	for _, arg := range names {
		for _, n := range strings.Split(arg, ",") {
			n = strings.TrimSpace(strings.ToLower(n))
			if n == "" {
				continue
			}
			i := slices.IndexFunc(kindNames, func(kn struct {
				k    Kind
				name string
			}) bool {
				return kn.name == n || kn.name+"s" == n
			})
			if i < 0 {
				return 0, fmt.Errorf("kind %q: not one of %s", n, strings.Join(KindNames(), ", "))
			}
			k |= kindNames[i].k
		}
	}
	if k == 0 {
		k = All
	}
	return k, nil
}

// KindOf returns the kind of a payload (0 for anything else).
func KindOf(p any) Kind {
	switch p.(type) {
	case *messages.EventsObserved:
		return Events
	case *messages.IntentObserved:
		return Intents
	case *messages.RuleFired:
		return Rules
	case *messages.GapObserved:
		return Gaps
	case *messages.ZooidObserved:
		return Zooids
	case *messages.ActorObserved:
		return Actors
	case *messages.SourceObserved:
		return Sources
	}
	return 0
}

// Stream fans observations out to its subscribers.
type Stream struct {
	mu   sync.Mutex // serialises Subscribe/Close; Publish reads subs lock-free
	subs atomic.Pointer[[]*Subscription]
	mask atomic.Uint32 // union of the subscribers' kinds
	root *actor.RootContext
	// retired keeps the counts of closed subscriptions by name, so the
	// counters exported never go down.
	retired map[string][2]uint64
}

// New returns an empty stream. root sends to actor subscribers; it may be
// nil when no actor subscribes.
func New(root *actor.RootContext) *Stream {
	s := &Stream{root: root}
	s.subs.Store(&[]*Subscription{})
	return s
}

// Wants reports whether any subscriber takes kind k: a producer may skip
// building a payload nobody reads.
func (s *Stream) Wants(k Kind) bool {
	return s != nil && Kind(s.mask.Load())&k != 0
}

// Publish hands p to every subscriber of its kind without blocking.
func (s *Stream) Publish(p any) {
	if s == nil {
		return
	}
	k := KindOf(p)
	if Kind(s.mask.Load())&k == 0 {
		return
	}
	for _, sub := range *s.subs.Load() {
		if sub.kinds&k != 0 {
			sub.offer(s, p)
		}
	}
}

// Subscribe adds a channel subscriber of the given kinds with a buffer of
// size buffer (at least 1). name labels its drop counter.
func (s *Stream) Subscribe(name string, buffer int, kinds Kind) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	sub := &Subscription{name: name, kinds: kinds, ch: make(chan any, buffer)}
	s.add(sub)
	return sub
}

// SubscribeActor adds an actor subscriber: payloads of the given kinds are
// sent to pid as messages (its mailbox bounds and counts them). With barrier
// set, the dispatcher's Flush barriers also go to pid (Barriers), behind the
// events published before them.
func (s *Stream) SubscribeActor(name string, pid *actor.PID, kinds Kind, barrier bool) *Subscription {
	sub := &Subscription{name: name, kinds: kinds, pid: pid, barrier: barrier}
	s.add(sub)
	return sub
}

// Barriers returns the actor subscribers that take part in Flush barriers.
func (s *Stream) Barriers() []*actor.PID {
	if s == nil {
		return nil
	}
	var out []*actor.PID
	for _, sub := range *s.subs.Load() {
		if sub.barrier && sub.pid != nil {
			out = append(out, sub.pid)
		}
	}
	return out
}

// Subscribers lists the current subscriptions.
func (s *Stream) Subscribers() []*Subscription {
	if s == nil {
		return nil
	}
	return slices.Clone(*s.subs.Load())
}

func (s *Stream) add(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := append(slices.Clone(*s.subs.Load()), sub)
	s.subs.Store(&subs)
	s.remask(subs)
	sub.stream = s
}

func (s *Stream) remove(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := slices.DeleteFunc(slices.Clone(*s.subs.Load()), func(x *Subscription) bool { return x == sub })
	s.subs.Store(&subs)
	s.remask(subs)
	if s.retired == nil {
		s.retired = map[string][2]uint64{}
	}
	r := s.retired[sub.name]
	s.retired[sub.name] = [2]uint64{r[0] + sub.Dropped(), r[1] + sub.Delivered()}
}

func (s *Stream) remask(subs []*Subscription) {
	var m Kind
	for _, sub := range subs {
		m |= sub.kinds
	}
	s.mask.Store(uint32(m))
}

// Subscription is one subscriber.
type Subscription struct {
	name    string
	kinds   Kind
	ch      chan any
	pid     *actor.PID
	barrier bool
	stream  *Stream

	delivered atomic.Uint64
	dropped   atomic.Uint64
	closeOnce sync.Once
}

func (sub *Subscription) offer(s *Stream, p any) {
	if sub.pid != nil {
		if s.root != nil {
			s.root.Send(sub.pid, p)
			sub.delivered.Add(1)
		}
		return
	}
	select {
	case sub.ch <- p:
		sub.delivered.Add(1)
	default:
		sub.dropped.Add(1)
	}
}

// C is the channel a channel subscriber reads (nil for an actor subscriber).
// It is never closed: stop reading after Close.
func (sub *Subscription) C() <-chan any { return sub.ch }

// Name is the subscriber's name.
func (sub *Subscription) Name() string { return sub.name }

// Kinds is what the subscriber takes.
func (sub *Subscription) Kinds() Kind { return sub.kinds }

// Dropped counts payloads that did not fit in the subscriber's buffer.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Delivered counts payloads handed to the subscriber.
func (sub *Subscription) Delivered() uint64 { return sub.delivered.Load() }

// Close removes the subscription; later publishes skip it.
func (sub *Subscription) Close() {
	sub.closeOnce.Do(func() {
		if sub.stream != nil {
			sub.stream.remove(sub)
		}
	})
}

var (
	droppedDesc = prometheus.NewDesc("kloros_observer_stream_dropped_total",
		"Observations a stream subscriber's buffer had no room for (the subscriber is slower than the daemon).",
		[]string{"subscriber"}, nil)
	deliveredDesc = prometheus.NewDesc("kloros_observer_stream_delivered_total",
		"Observations handed to a stream subscriber.", []string{"subscriber"}, nil)
	subscribersDesc = prometheus.NewDesc("kloros_observer_stream_subscribers",
		"Current subscribers of the observation stream.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Stream) Describe(ch chan<- *prometheus.Desc) {
	ch <- droppedDesc
	ch <- deliveredDesc
	ch <- subscribersDesc
}

// Collect implements prometheus.Collector. Subscribers with the same name
// (one per SSE client, say) are summed.
func (s *Stream) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	subs := *s.subs.Load()
	dropped, delivered := map[string]uint64{}, map[string]uint64{}
	for n, r := range s.retired {
		dropped[n], delivered[n] = r[0], r[1]
	}
	s.mu.Unlock()
	for _, sub := range subs {
		dropped[sub.name] += sub.Dropped()
		delivered[sub.name] += sub.Delivered()
	}
	for n, v := range dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(v), n)
		ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(delivered[n]), n)
	}
	ch <- prometheus.MustNewConstMetric(subscribersDesc, prometheus.GaugeValue, float64(len(subs)))
}
