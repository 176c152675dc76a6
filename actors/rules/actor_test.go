package rules

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
)

func node(t *testing.T, s string) *yaml.Node {
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(s), &n))
	return n.Content[0]
}

// The heartbeat-stall rule actor fires from its own timer: no event arrives.
func TestStallRuleActorFiresFromItsTimer(t *testing.T) {
	s := actor.NewActorSystem()
	t.Cleanup(s.Shutdown)
	got := make(chan any, 10)
	emitter := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *messages.EmitIntent, *messages.Flush:
			got <- c.Message()
		}
	}))
	cfg := node(t, "stall_after: 200ms\n")
	factory := func() (Rule, error) { return New("heartbeat_stall", cfg) }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pid := s.Root.Spawn(actor.PropsFromProducer(NewActor("heartbeat_stall", factory, emitter, clock.Real{}, logger, nil)))
	start := time.Now()
	select {
	case m := <-got:
		in := m.(*messages.EmitIntent).Intent
		require.Equal(t, "alert_heartbeat_stall", in.Type)
		require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("stall never reported")
	}
	// Once per stall: a Flush sent now comes back before any second intent.
	s.Root.Send(pid, &messages.Flush{ID: 1})
	select {
	case m := <-got:
		require.IsType(t, &messages.Flush{}, m, "a stall is reported once")
	case <-time.After(5 * time.Second):
		t.Fatal("flush not forwarded")
	}
	// Heartbeats re-arm it: it fires again after the next silence.
	s.Root.Send(pid, &messages.Event{Source: "inotify", Type: "dream_heartbeat"})
	select {
	case m := <-got:
		require.Equal(t, "alert_heartbeat_stall", m.(*messages.EmitIntent).Intent.Type)
	case <-time.After(5 * time.Second):
		t.Fatal("stall after re-arming never reported")
	}
}
