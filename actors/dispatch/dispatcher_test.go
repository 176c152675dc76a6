package dispatch

import (
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/observe"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
)

func ev(typ, path string) *messages.Event {
	return &messages.Event{Source: "inotify", Type: typ, TS: time.Now(), Data: map[string]any{"path": path}}
}

func TestDispatcherDedupExemptionAndRouting(t *testing.T) {
	s := actortest.NewSystem(t)
	fake := clock.NewFake(time.Now())
	deps := actortest.Deps(t, fake)
	ruleA, chA := actortest.Probe(t, s)
	ruleB, chB := actortest.Probe(t, s)
	spool, chS := actortest.Probe(t, s)
	deps.Stream = observe.New(s.Root)
	deps.Stream.SubscribeActor("spool", spool, observe.Events, true)
	tap := deps.Stream.Subscribe("tap", 100, observe.Events)
	d := s.Root.Spawn(actor.PropsFromProducer(New(Config{
		DedupWindow: time.Minute,
		Routes:      map[string][]*actor.PID{"promotion_new": {ruleA, ruleB}, "error_critical": {ruleA}},
		Rules:       []*actor.PID{ruleA, ruleB},
	}, deps)))
	s.Root.Send(d, ev("promotion_new", "/p/a.json"))
	s.Root.Send(d, ev("promotion_new", "/p/a.json")) // same key: dropped
	s.Root.Send(d, ev("promotion_new", "/p/b.json")) // other path: passes
	s.Root.Send(d, ev("unrouted", "/x"))             // nobody subscribes: fine
	crit := &messages.Event{Source: "journald", Type: "error_critical", Data: map[string]any{"unit": "kloros.service"}}
	s.Root.Send(d, crit)
	s.Root.Send(d, crit) // exempt from dedup
	var gotA []string
	for len(gotA) < 4 {
		m := actortest.Next[*messages.Event](t, chA, 5*time.Second)
		gotA = append(gotA, m.Type+":"+m.DedupKey())
	}
	fake.Advance(61 * time.Second)
	s.Root.Send(d, ev("promotion_new", "/p/a.json")) // window passed
	for len(gotA) < 5 {
		m := actortest.Next[*messages.Event](t, chA, 5*time.Second)
		gotA = append(gotA, m.Type+":"+m.DedupKey())
	}
	require.Equal(t, []string{
		"promotion_new:inotify:promotion_new:/p/a.json", "promotion_new:inotify:promotion_new:/p/b.json",
		"error_critical:journald:error_critical:kloros.service", "error_critical:journald:error_critical:kloros.service",
		"promotion_new:inotify:promotion_new:/p/a.json",
	}, gotA)
	for range 3 {
		actortest.Next[*messages.Event](t, chB, 5*time.Second)
	}
	// The spool (an actor subscriber) and a channel subscriber see every
	// event, duplicates included, with the dedup verdict.
	var verdicts []bool
	for len(verdicts) < 7 {
		for _, oe := range actortest.Next[*messages.EventsObserved](t, chS, 5*time.Second).Events {
			verdicts = append(verdicts, oe.Duplicate)
		}
	}
	require.Equal(t, []bool{false, true, false, false, false, false, false}, verdicts)
	require.Len(t, tap.C(), 7)
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_events_deduplicated_total", nil))
	require.Equal(t, 7.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_events_total", nil))
}

// flushResponder answers a Flush after forwarding nothing: it stands in for
// the emitter (and the spool), replying only when released.
func TestDispatcherFlushWaitsForEveryPath(t *testing.T) {
	s := actortest.NewSystem(t)
	release := make(chan struct{})
	var held []*messages.Flush
	holder := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.Flush:
			held = append(held, m)
			if len(held) == 3 { // spool + two rules
				go func(fs []*messages.Flush) {
					<-release
					for _, f := range fs {
						s.Root.Send(f.ReplyTo, &messages.Flushed{ID: f.ID})
					}
				}(append([]*messages.Flush(nil), held...))
			}
		}
	}))
	src, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	deps.Stream = observe.New(s.Root)
	deps.Stream.SubscribeActor("spool", holder, observe.Events, true)
	d := s.Root.Spawn(actor.PropsFromProducer(New(Config{
		DedupWindow: time.Minute, Rules: []*actor.PID{holder, holder},
	}, deps)))
	s.Root.Send(d, &messages.Flush{ID: 42, ReplyTo: src})
	select {
	case m := <-ch:
		t.Fatalf("answered before every path was durable: %#v", m)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	f := actortest.Next[*messages.Flushed](t, ch, 5*time.Second)
	require.Equal(t, uint64(42), f.ID)

	// With no receivers a barrier is answered at once.
	d2 := s.Root.Spawn(actor.PropsFromProducer(New(Config{DedupWindow: time.Minute}, actortest.Deps(t, nil))))
	s.Root.Send(d2, &messages.Flush{ID: 43, ReplyTo: src})
	require.Equal(t, uint64(43), actortest.Next[*messages.Flushed](t, ch, 5*time.Second).ID)
}

func TestDispatcherBatchesPerRule(t *testing.T) {
	s := actortest.NewSystem(t)
	rule, ch := actortest.Probe(t, s)
	d := s.Root.Spawn(actor.PropsFromProducer(New(Config{
		DedupWindow: time.Minute, Routes: map[string][]*actor.PID{"promotion_new": {rule}}, Rules: []*actor.PID{rule},
	}, actortest.Deps(t, nil))))
	s.Root.Send(d, &messages.EventBatch{Events: []*messages.Event{ev("promotion_new", "/a"), ev("promotion_new", "/a"), ev("other", "/c"), ev("promotion_new", "/b")}})
	b := actortest.Next[*messages.EventBatch](t, ch, 5*time.Second)
	require.Len(t, b.Events, 2)
	require.Equal(t, "/a", b.Events[0].Data["path"])
	require.Equal(t, "/b", b.Events[1].Data["path"])
}

// With AwaitRoutes, events and barriers wait, in order, for the rules
// manager's first routes: nothing is routed to rule actors that do not exist
// yet, and a barrier is not answered ahead of the events before it.
func TestDispatcherAwaitsFirstRoutes(t *testing.T) {
	s := actortest.NewSystem(t)
	rule, ch := actortest.Probe(t, s)
	src, srcCh := actortest.Probe(t, s)
	d := s.Root.Spawn(actor.PropsFromProducer(New(Config{DedupWindow: time.Minute, AwaitRoutes: true}, actortest.Deps(t, nil))))
	s.Root.Send(d, ev("promotion_new", "/p/1.json"))
	s.Root.Send(d, &messages.Flush{ID: 7, ReplyTo: src})
	s.Root.Send(d, &messages.EventBatch{Events: []*messages.Event{ev("promotion_new", "/p/2.json")}})
	select {
	case m := <-srcCh:
		t.Fatalf("barrier answered before the routes came: %#v", m)
	case m := <-ch:
		t.Fatalf("routed before the routes came: %#v", m)
	case <-time.After(100 * time.Millisecond):
	}
	s.Root.Send(d, &messages.RoutesChanged{Routes: map[string][]*actor.PID{"promotion_new": {rule}}, Rules: []*actor.PID{rule}})
	require.Equal(t, "/p/1.json", actortest.Next[*messages.Event](t, ch, 5*time.Second).Data["path"])
	f := actortest.Next[*messages.Flush](t, ch, 5*time.Second) // the barrier reaches the rule after the first event
	s.Root.Send(f.ReplyTo, &messages.Flushed{ID: f.ID})
	require.Equal(t, uint64(7), actortest.Next[*messages.Flushed](t, srcCh, 5*time.Second).ID)
	require.Equal(t, "/p/2.json", actortest.Next[*messages.EventBatch](t, ch, 5*time.Second).Events[0].Data["path"])
}

// A dispatcher that waits for routes asks for them at start: the rules
// manager may have sent its own before the dispatcher existed.
func TestDispatcherAsksForRoutes(t *testing.T) {
	s := actortest.NewSystem(t)
	rule, ch := actortest.Probe(t, s)
	manager := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*messages.RoutesRequest); ok {
			c.Respond(&messages.RoutesChanged{Routes: map[string][]*actor.PID{"promotion_new": {rule}}, Rules: []*actor.PID{rule}})
		}
	}))
	d := s.Root.Spawn(actor.PropsFromProducer(New(Config{DedupWindow: time.Minute, AwaitRoutes: true, RoutesFrom: manager}, actortest.Deps(t, nil))))
	s.Root.Send(d, ev("promotion_new", "/p/1.json"))
	require.Equal(t, "/p/1.json", actortest.Next[*messages.Event](t, ch, 5*time.Second).Data["path"])
}
