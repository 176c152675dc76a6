package actors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestSpoolWritesEveryEventUniquelyAndFlushes(t *testing.T) {
	s := newSystem(t)
	dir := filepath.Join(t.TempDir(), "events")
	old := filepath.Join(dir, itoa(time.Now().Add(-8*24*time.Hour).UnixMilli())+"_inotify_promotion_new_000000.json")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(old, []byte("{}"), 0o600))
	sp := s.Root.Spawn(actor.PropsFromProducer(NewSpool(SpoolConfig{Dir: dir, Retention: 7 * 24 * time.Hour,
		RetryInitial: time.Millisecond, RetryMax: 10 * time.Millisecond}, testDeps(t, nil))))
	p, ch := probe(t, s)
	for i := range 300 { // many within one millisecond: names must not collide
		s.Root.Send(sp, &messages.Event{Source: "inotify", Type: "promotion_new", TS: time.Now(),
			Data: map[string]any{"path": "/p/" + itoa(int64(i)) + ".json", "when": time.Unix(0, 0)}})
	}
	s.Root.Send(sp, &messages.EventBatch{Events: []*messages.Event{{Source: "journald", Type: "gpu_oom", Data: map[string]any{"unit": "x"}}}})
	s.Root.Send(sp, &messages.Flush{ID: 9, ReplyTo: p})
	require.Equal(t, uint64(9), next[*messages.Flushed](t, ch, 10*time.Second).ID)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Equal(t, 301, len(files), "every event spooled once; the 8-day-old file pruned")
	require.NoFileExists(t, old)
	var rec struct {
		Source string         `json:"source"`
		Type   string         `json:"type"`
		TS     float64        `json:"ts"`
		Data   map[string]any `json:"data"`
	}
	b, err := os.ReadFile(files[len(files)-1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rec))
	require.NotEmpty(t, rec.Source)
	require.NotZero(t, rec.TS)
}
