package observe

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestPublishFansOutByKind(t *testing.T) {
	s := New(nil)
	events := s.Subscribe("events", 4, Events)
	gaps := s.Subscribe("gaps", 4, Gaps|Zooids)
	require.True(t, s.Wants(Events))
	require.False(t, s.Wants(Intents))

	ev := &messages.EventsObserved{Events: []messages.ObservedEvent{{Event: &messages.Event{Type: "x"}}}}
	gap := &messages.GapObserved{Change: messages.GapOpened, Zooid: "z"}
	s.Publish(ev)
	s.Publish(gap)
	s.Publish(&messages.IntentObserved{}) // nobody takes intents

	require.Same(t, ev, <-events.C())
	require.Same(t, gap, <-gaps.C())
	require.Len(t, events.C(), 0)
	require.Len(t, gaps.C(), 0)
}

func TestSlowSubscriberDropsAndCounts(t *testing.T) {
	s := New(nil)
	slow := s.Subscribe("slow", 2, All)
	fast := s.Subscribe("fast", 100, All)
	for i := 0; i < 10; i++ {
		s.Publish(&messages.RuleFired{Rule: "r"})
	}
	require.EqualValues(t, 8, slow.Dropped())
	require.EqualValues(t, 2, slow.Delivered())
	require.EqualValues(t, 0, fast.Dropped())
	require.Len(t, fast.C(), 10)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	slow.Close()
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kloros_observer_stream_dropped_total Observations a stream subscriber's buffer had no room for (the subscriber is slower than the daemon).
# TYPE kloros_observer_stream_dropped_total counter
kloros_observer_stream_dropped_total{subscriber="fast"} 0
kloros_observer_stream_dropped_total{subscriber="slow"} 8
`), "kloros_observer_stream_dropped_total"))
}

func TestCloseStopsDeliveryAndMask(t *testing.T) {
	s := New(nil)
	sub := s.Subscribe("a", 4, Gaps)
	sub.Close()
	sub.Close() // idempotent
	require.False(t, s.Wants(Gaps))
	s.Publish(&messages.GapObserved{})
	require.Len(t, sub.C(), 0)
}

func TestNilStreamIsInert(t *testing.T) {
	var s *Stream
	s.Publish(&messages.GapObserved{})
	require.False(t, s.Wants(All))
	require.Nil(t, s.Barriers())
}

type collect struct{ got chan any }

func (c *collect) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.EventsObserved, *messages.Flush:
		c.got <- m
	}
}

func TestActorSubscriberKeepsOrderWithBarriers(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	c := &collect{got: make(chan any, 16)}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c }))
	s := New(sys.Root)
	s.SubscribeActor("spool", pid, Events, true)
	s.SubscribeActor("other", pid, Gaps, false)
	require.Equal(t, []*actor.PID{pid}, s.Barriers())

	first := &messages.EventsObserved{}
	s.Publish(first)
	sys.Root.Send(pid, &messages.Flush{ID: 1})
	for _, want := range []any{first, &messages.Flush{ID: 1}} {
		select {
		case got := <-c.got:
			require.Equal(t, want, got)
		case <-time.After(5 * time.Second):
			t.Fatal("actor subscriber got nothing")
		}
	}
}

func TestParseKinds(t *testing.T) {
	k, err := ParseKinds("event,gaps", "Intent")
	require.NoError(t, err)
	require.Equal(t, Events|Gaps|Intents, k)
	require.Equal(t, "event,intent,gap", k.String())
	all, err := ParseKinds()
	require.NoError(t, err)
	require.Equal(t, All, all)
	_, err = ParseKinds("evnt")
	require.ErrorContains(t, err, `kind "evnt": not one of event, intent, rule, gap, zooid, actor, source`)
	for _, p := range []any{&messages.EventsObserved{}, &messages.IntentObserved{}, &messages.RuleFired{}, &messages.GapObserved{},
		&messages.ZooidObserved{}, &messages.ActorObserved{}, &messages.SourceObserved{}} {
		require.NotZero(t, KindOf(p), "%T", p)
	}
}
