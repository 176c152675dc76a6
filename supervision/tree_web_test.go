package supervision

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/rules"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

// The web's adapters read what the sources' metrics say, and the heartbeat
// and event counters for the page's charts.
func TestWebAdapters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FSWatch.Paths = []string{"/a", "/b"}
	cfg.Scrape.Endpoints = []string{"http://x:9090/metrics", "http://y:9100/metrics"}
	m := telemetry.NewMetrics()
	b := &Builder{Config: &cfg, Deps: actors.Deps{Metrics: m}}
	m.FSWatch.Watches.Set(3)
	m.Scrape.Up.WithLabelValues("0").Set(1)
	m.Scrape.Up.WithLabelValues("1").Set(0)
	m.Journald.LastAge.WithLabelValues("journald_units").Set(2.5)
	m.ChemBus.Received.WithLabelValues(messages.TopicHeartbeat).Add(7)
	m.Core.Events.WithLabelValues("inotify", "promotion_new").Add(2)
	m.Core.Events.WithLabelValues("journald", "gpu_oom").Add(1)

	byTarget := map[string]bool{}
	for _, s := range (sourcesAdapter{b}).Sources() {
		byTarget[s.Source+" "+s.Target] = s.Healthy
		if s.Source == "fswatch" {
			require.Equal(t, "/a, /b", s.Target)
			require.EqualValues(t, 3, s.Extra["watched_directories"])
		}
		if s.Source == "journald" {
			require.EqualValues(t, 2.5, s.Extra["last_entry_age_seconds"])
		}
	}
	require.True(t, byTarget["scrape http://x:9090/metrics"])
	require.False(t, byTarget["scrape http://y:9100/metrics"])
	require.Contains(t, byTarget, "journald journald_units")
	require.EqualValues(t, 7, b.heartbeatsTotal())
	require.EqualValues(t, 3, b.eventsTotal())
}

// The rules are the running set, each with the live state its actor gives.
func TestWebRulesAdapter(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	sink := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	live := &rules.Live{}
	deps := actors.Deps{Logger: slog.New(slog.DiscardHandler), Metrics: telemetry.NewMetrics(), Clock: clock.Real{}}
	mgr := system.Root.Spawn(actor.PropsFromProducer(rules.NewManager(rules.ManagerConfig{Initial: rules.Default(),
		Emitter: sink, Dispatcher: sink, Live: live,
		ChildProps: func(p actor.Producer) *actor.Props { return actor.PropsFromProducer(p) }}, deps)))
	t.Cleanup(func() { _ = system.Root.StopFuture(mgr).Wait() })
	require.Eventually(t, func() bool { set, _ := live.Current(); return set != nil }, 5*time.Second, 5*time.Millisecond)
	a := &rulesAdapter{live: live, root: system.Root}
	rs := a.Rules()
	require.Len(t, rs, len(rules.Default().Rules()))
	found := false
	for _, r := range rs {
		if r.Name == "heartbeat_stall" {
			found = true
			require.Equal(t, []string{"dream_heartbeat"}, r.On)
			require.NotEmpty(t, r.State, "the absence rule's live state")
		}
	}
	require.True(t, found)
}
