package web

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/kloros/kloros-observer/actors/heartbeat/history"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

// ring is a bounded buffer keeping the newest n items.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) add(v T) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring[T]) len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// newest returns up to limit items matching keep, newest first.
func (r *ring[T]) newest(limit int, keep func(*T) bool) []T {
	out := []T{}
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	for i := 0; i < n && len(out) < limit; i++ {
		j := (r.next - 1 - i + len(r.buf)) % len(r.buf)
		if keep == nil || keep(&r.buf[j]) {
			out = append(out, r.buf[j])
		}
	}
	return out
}

// rateWindow is how far back the charts go, in one-second buckets.
const rateWindow = 3600

type rates struct {
	sec                         [rateWindow]int64 // the unix second each bucket holds
	events, heartbeats, intents [rateWindow]float64
	lastHeartbeats, lastEvents  float64
	known                       bool
}

func (r *rates) bucket(t time.Time) int {
	s := t.Unix()
	i := int(s % rateWindow)
	if r.sec[i] != s {
		r.sec[i], r.events[i], r.heartbeats[i], r.intents[i] = s, 0, 0, 0
	}
	return i
}

// SourceState is a source's last reported health.
type SourceState struct {
	Source  string         `json:"source"`
	Target  string         `json:"target"`
	Healthy bool           `json:"healthy"`
	Detail  string         `json:"detail,omitempty"`
	Since   time.Time      `json:"since,omitzero"`
	Extra   map[string]any `json:"extra,omitempty"`
}

type ruleStat struct {
	Fired      int       `json:"fired"`
	LastFired  time.Time `json:"last_fired,omitzero"`
	LastReason string    `json:"last_reason,omitempty"`
	IntentType string    `json:"intent_type,omitempty"`
	Priority   int       `json:"priority,omitempty"`
}

type actorStat struct {
	Failures   int       `json:"failures"`
	Restarts   int       `json:"restarts"`
	LastChange string    `json:"last_change,omitempty"`
	LastReason string    `json:"last_reason,omitempty"`
	LastAt     time.Time `json:"last_at,omitzero"`
}

// Feed is the dashboard's subscriber of the observation stream: it keeps the
// recent events (with the dedup verdict) and intents in bounded rings, each
// rule's and actor's last observation, each source's last health, per-second
// rates for the charts, and appends gap episodes to the availability
// history.
//
// Owns one goroutine (Start to Stop) and one stream subscription; it writes
// the history file. A Feed slower than the daemon loses observations, which
// the stream counts as kloros_observer_stream_dropped_total{subscriber="web"}.
type Feed struct {
	log        *slog.Logger
	now        func() time.Time
	hist       *history.Log
	heartbeats func() float64
	eventsTot  func() float64

	mu      sync.RWMutex
	events  *ring[seenEvent]
	intents *ring[IntentJSON]
	sources map[[2]string]*SourceState
	rules   map[string]*ruleStat
	actors  map[string]*actorStat
	rates   rates

	sub  *observe.Subscription // events, intents, rules, actors, sources: drained on a tick
	hsub *observe.Subscription // gaps and zooids (the history): taken as they come
	stop chan struct{}
	done chan struct{}
}

// FeedConfig sets a Feed.
type FeedConfig struct {
	EventRing, IntentRing int
	// History, if set, gets every gap opened/closed and zooid first seen.
	History *history.Log
	// Heartbeats, if set, returns the total heartbeats received so far (the
	// heartbeats/s chart).
	Heartbeats func() float64
	// Events, if set, returns the total events the sources produced (the
	// events/s chart stays right when a flood overflows the Feed's buffer);
	// else the Feed counts the events it takes.
	Events func() float64
	Now    func() time.Time
	Logger *slog.Logger
}

// NewFeed returns a Feed; Start subscribes it.
func NewFeed(cfg FeedConfig) *Feed {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Feed{log: cfg.Logger, now: cfg.Now, hist: cfg.History, heartbeats: cfg.Heartbeats, eventsTot: cfg.Events,
		events: newRing[seenEvent](max(1, cfg.EventRing)), intents: newRing[IntentJSON](max(1, cfg.IntentRing)),
		sources: map[[2]string]*SourceState{}, rules: map[string]*ruleStat{}, actors: map[string]*actorStat{}}
}

// Subscription buffers: the history's fits a burst of 30,000 gaps; the rest
// is drained every feedTick, so it holds what arrives in that time (past it,
// the newest are dropped and counted: the rings show a sample of a flood).
const (
	historyBuffer = 1 << 15
	feedBuffer    = 4096
	feedTick      = 100 * time.Millisecond
)

// Subscribe subscribes the Feed to the stream, once. The daemon subscribes
// it when it builds the tree, before any producer starts, so the page knows
// every source's health from the first report on, even if the HTTP actor
// starts later or restarts; observations wait in the subscription's buffer
// until Start.
func (f *Feed) Subscribe(stream *observe.Stream) {
	if f.sub == nil && stream != nil {
		f.sub = stream.Subscribe("web", feedBuffer, observe.All&^(observe.Gaps|observe.Zooids))
		f.hsub = stream.Subscribe("web_history", historyBuffer, observe.Gaps|observe.Zooids)
	}
}

// SetHistory sets the history gap episodes go to (call before Start).
func (f *Feed) SetHistory(h *history.Log) { f.hist = h }

// Start subscribes (if not yet) and starts the goroutine.
func (f *Feed) Start(stream *observe.Stream) {
	f.Subscribe(stream)
	f.stop, f.done = make(chan struct{}), make(chan struct{})
	go f.run()
}

// Stop ends the goroutine (idempotent); the subscription stays, so a
// restarted actor loses nothing.
func (f *Feed) Stop() {
	if f.stop == nil {
		return
	}
	close(f.stop)
	<-f.done
	f.stop = nil
}

// Close stops the goroutine and ends the subscription.
func (f *Feed) Close() {
	f.Stop()
	if f.sub != nil {
		f.sub.Close()
		f.hsub.Close()
		f.sub, f.hsub = nil, nil
	}
}

func (f *Feed) run() {
	defer close(f.done)
	var in, hin <-chan any
	if f.sub != nil {
		in, hin = f.sub.C(), f.hsub.C()
	}
	tick := time.NewTicker(feedTick)
	defer tick.Stop()
	f.sample()
	var recs []history.Record
	lastSample := time.Now()
	for {
		select {
		case <-f.stop:
			return
		case now := <-tick.C:
		take:
			for range feedBuffer {
				select {
				case p := <-in:
					f.take(p, nil)
				default:
					break take
				}
			}
			if now.Sub(lastSample) >= time.Second {
				lastSample = now
				f.sample()
			}
		case p := <-hin:
			recs = f.take(p, recs[:0])
		drain: // a burst: take what is queued, then one history fsync
			for range 4096 {
				select {
				case p := <-hin:
					recs = f.take(p, recs)
				default:
					break drain
				}
			}
			if len(recs) > 0 && f.hist != nil {
				if err := f.hist.Append(recs...); err != nil {
					f.log.Error("cannot append to the availability history", "err", err)
				}
			}
		}
	}
}

// Observe applies one payload directly (tests and tools without a stream).
func (f *Feed) Observe(p any) {
	recs := f.take(p, nil)
	if len(recs) > 0 && f.hist != nil {
		if err := f.hist.Append(recs...); err != nil {
			f.log.Error("cannot append to the availability history", "err", err)
		}
	}
}

func (f *Feed) take(p any, recs []history.Record) []history.Record {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m := p.(type) {
	case *messages.EventsObserved:
		for _, oe := range m.Events { // kept as they are: encoded only when asked for
			if oe.Event != nil {
				f.events.add(seenEvent{at: m.At, oe: oe})
			}
		}
		if f.eventsTot == nil {
			f.rates.events[f.rates.bucket(now)] += float64(len(m.Events))
		}
	case *messages.IntentObserved:
		f.intents.add(intentJSON(m))
		if m.Outcome == messages.IntentOutcomeWritten {
			f.rates.intents[f.rates.bucket(now)]++
		}
	case *messages.RuleFired:
		r := f.rules[m.Rule]
		if r == nil {
			r = &ruleStat{}
			f.rules[m.Rule] = r
		}
		r.Fired++
		r.LastFired, r.LastReason, r.IntentType, r.Priority = m.At, m.Reason, m.IntentType, m.Priority
	case *messages.ActorObserved:
		a := f.actors[m.Actor]
		if a == nil {
			a = &actorStat{}
			f.actors[m.Actor] = a
		}
		switch m.Change {
		case messages.ActorFailed:
			a.Failures++
		case messages.ActorRestarted:
			a.Restarts++
		}
		a.LastChange, a.LastReason, a.LastAt = m.Change, m.Reason, m.At
	case *messages.SourceObserved:
		k := [2]string{m.Source, m.Target}
		s := f.sources[k]
		if s == nil || s.Healthy != m.Healthy {
			s = &SourceState{Since: m.At}
			f.sources[k] = s
		}
		s.Source, s.Target, s.Healthy, s.Detail = m.Source, m.Target, m.Healthy, m.Detail
	case *messages.GapObserved:
		if r, ok := history.FromGap(m); ok {
			recs = append(recs, r)
		}
	case *messages.ZooidObserved:
		if r, ok := history.FromZooid(m); ok {
			recs = append(recs, r)
		}
	}
	return recs
}

// sample reads the heartbeat and event counters into this second's bucket.
func (f *Feed) sample() {
	var hb, ev float64
	if f.heartbeats != nil {
		hb = f.heartbeats()
	}
	if f.eventsTot != nil {
		ev = f.eventsTot()
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &f.rates
	i := r.bucket(now)
	if r.known && hb >= r.lastHeartbeats && ev >= r.lastEvents {
		r.heartbeats[i] += hb - r.lastHeartbeats
		if f.eventsTot != nil {
			r.events[i] += ev - r.lastEvents
		}
	}
	r.lastHeartbeats, r.lastEvents, r.known = hb, ev, true
}

// seenEvent is one event in the ring, as published (payloads are never
// mutated after publishing, so keeping the pointer is safe).
type seenEvent struct {
	at time.Time
	oe messages.ObservedEvent
}

// Events returns up to limit recent events matching keep, newest first.
func (f *Feed) Events(limit int, keep func(*EventJSON) bool) []EventJSON {
	f.mu.RLock()
	seen := f.events.newest(f.events.len(), nil)
	f.mu.RUnlock()
	out := []EventJSON{}
	for i := range seen {
		if len(out) == limit {
			break
		}
		e := eventJSON(seen[i].at, seen[i].oe)
		if keep == nil || keep(&e) {
			out = append(out, e)
		}
	}
	return out
}

// Intents returns up to limit recent intents matching keep, newest first.
func (f *Feed) Intents(limit int, keep func(*IntentJSON) bool) []IntentJSON {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.intents.newest(limit, keep)
}

// Sources returns each source's last reported health, by source then target.
func (f *Feed) Sources() []SourceState {
	f.mu.RLock()
	out := make([]SourceState, 0, len(f.sources))
	for _, s := range f.sources {
		out = append(out, *s)
	}
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Target < out[j].Target
	})
	return out
}

func (f *Feed) ruleStats() map[string]ruleStat {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]ruleStat, len(f.rules))
	for k, v := range f.rules {
		out[k] = *v
	}
	return out
}

func (f *Feed) actorStats() map[string]actorStat {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]actorStat, len(f.actors))
	for k, v := range f.actors {
		out[k] = *v
	}
	return out
}

// Series is the charts' data: the last hour in buckets of Step.
type Series struct {
	StepSeconds         int       `json:"step_seconds"`
	End                 time.Time `json:"end"`
	EventsPerSecond     []float64 `json:"events_per_second"`
	HeartbeatsPerSecond []float64 `json:"heartbeats_per_second"`
	IntentsPerHour      []float64 `json:"intents_per_hour"`
}

// Rates returns the last hour's rates in buckets of step seconds, oldest
// first (the current, incomplete second excluded).
func (f *Feed) Rates(step int) Series {
	now := f.now().Unix()
	n := rateWindow / step
	s := Series{StepSeconds: step, End: time.Unix(now, 0).UTC(), EventsPerSecond: make([]float64, n),
		HeartbeatsPerSecond: make([]float64, n), IntentsPerHour: make([]float64, n)}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for k := range n * step {
		sec := now - int64(n*step) + int64(k)
		i := int(sec % rateWindow)
		if f.rates.sec[i] != sec {
			continue
		}
		b := k / step
		s.EventsPerSecond[b] += f.rates.events[i] / float64(step)
		s.HeartbeatsPerSecond[b] += f.rates.heartbeats[i] / float64(step)
		s.IntentsPerHour[b] += f.rates.intents[i] * 3600 / float64(step)
	}
	return s
}
