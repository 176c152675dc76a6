package supervision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
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

// The rules come from the configured set, with the state the rules manager
// checkpointed.
func TestWebRulesAdapter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(cfg.StateDir, "rules"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.StateDir, "rules", "state.json"), []byte(`{"version":1,"saved_at":"2026-11-30T03:49:33Z",
 "rules":[{"name":"heartbeat_stall","hash":"x","state":{"groups":[{"key":"","state":{"seen":false}}]}}]}`), 0o600))
	a := &rulesAdapter{c: &cfg}
	rs := a.Rules()
	require.NotEmpty(t, rs)
	found := false
	for _, r := range rs {
		if r.Name == "heartbeat_stall" {
			found = true
			require.Equal(t, []string{"dream_heartbeat"}, r.On)
			require.Len(t, r.State["groups"], 1)
			require.Equal(t, "2026-11-30T03:49:33Z", r.State["checkpointed_at"])
		}
	}
	require.True(t, found)
}
