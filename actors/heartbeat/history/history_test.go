package history

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/messages"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func gap(change, z, id string, at, last time.Time) *messages.GapObserved {
	return &messages.GapObserved{At: at, Change: change, Zooid: z, Niche: "gpu", IncidentID: id, LastSeen: last}
}

func appendGap(t *testing.T, l *Log, g *messages.GapObserved) {
	t.Helper()
	r, ok := FromGap(g)
	require.True(t, ok)
	require.NoError(t, l.Append(r))
}

func TestAvailabilitySurvivesRestart(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "heartbeat", "history.jsonl")
	cfg := Config{Path: path}
	l, err := Open(cfg, clk.Now)
	require.NoError(t, err)
	r, _ := FromZooid(&messages.ZooidObserved{At: t0, Change: messages.ZooidFirstSeen, Zooid: "a", Niche: "gpu"})
	require.NoError(t, l.Append(r))

	// Down from 10:00 (last beat) to 11:00, detected at 10:00:30.
	clk.Set(t0.Add(10*time.Hour + 30*time.Second))
	appendGap(t, l, gap(messages.GapOpened, "a", "inc-1", clk.Now(), t0.Add(10*time.Hour)))
	appendGap(t, l, gap(messages.GapOpened, "a", "inc-1", clk.Now(), t0.Add(10*time.Hour))) // duplicate: ignored
	clk.Set(t0.Add(11 * time.Hour))
	appendGap(t, l, gap(messages.GapClosed, "a", "inc-1", clk.Now(), time.Time{}))
	clk.Set(t0.Add(20 * time.Hour))
	require.NoError(t, l.Close())

	// A new process reads the same record.
	l, err = Open(cfg, clk.Now)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	eps := l.Episodes("a")
	require.Len(t, eps, 1)
	require.Equal(t, "inc-1", eps[0].IncidentID)
	require.Equal(t, time.Hour, eps[0].Duration(clk.Now()))

	f, ok := l.Availability("a", clk.Now(), 24*time.Hour) // known for 20 h, down 1 h
	require.True(t, ok)
	require.InDelta(t, 19.0/20.0, f, 1e-9)
	f, ok = l.Availability("a", clk.Now(), time.Hour)
	require.True(t, ok)
	require.Equal(t, 1.0, f)

	bars := l.Bars("a", clk.Now(), 24*time.Hour, 24)
	require.Equal(t, -1.0, bars[0], "before the zooid was known")
	require.Equal(t, 0.0, bars[14], "10:00-11:00 down") // bucket 14 = 10:00..11:00 for now=20:00
	require.Equal(t, 1.0, bars[23])

	// An open episode counts up to now.
	appendGap(t, l, gap(messages.GapOpened, "a", "inc-2", clk.Now(), clk.Now().Add(-30*time.Minute)))
	f, _ = l.Availability("a", clk.Now(), time.Hour)
	require.InDelta(t, 0.5, f, 1e-9)
	require.True(t, l.Episodes("a")[0].Open())
}

func TestTornLineAndRetention(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "history.jsonl")
	cfg := Config{Path: path, Retention: 48 * time.Hour}
	l, err := Open(cfg, clk.Now)
	require.NoError(t, err)
	appendGap(t, l, gap(messages.GapOpened, "a", "old", t0, t0))
	appendGap(t, l, gap(messages.GapClosed, "a", "old", t0.Add(time.Minute), time.Time{}))
	require.NoError(t, l.Close())
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.WriteString(`{"t":"open","z":"a","id":"tor`) // crash mid-append
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	clk.Set(t0.Add(72 * time.Hour))
	l, err = Open(cfg, clk.Now)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.Empty(t, l.Episodes("a"), "past the retention")
	appendGap(t, l, gap(messages.GapOpened, "a", "new", clk.Now(), clk.Now()))
	require.Len(t, l.Episodes("a"), 1)
}

func TestSizeBound(t *testing.T) {
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "history.jsonl")
	l, err := Open(Config{Path: path, MaxBytes: 64 << 10}, clk.Now)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	for i := range 2000 {
		at := t0.Add(time.Duration(i) * time.Minute)
		id := fmt.Sprintf("inc-%d", i)
		appendGap(t, l, gap(messages.GapOpened, "a", id, at, at))
		appendGap(t, l, gap(messages.GapClosed, "a", id, at.Add(time.Second), time.Time{}))
		clk.Set(at)
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.LessOrEqual(t, fi.Size(), int64(64<<10))
	eps := l.Episodes("a")
	require.NotEmpty(t, eps)
	require.Equal(t, "inc-1999", eps[0].IncidentID, "the newest are kept")
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	v := config.NewChecker(nil)
	c.Validate(v.At("history"))
	require.NoError(t, v.Err())
	c.Retention = time.Minute
	c.Validate(v.At("history"))
	require.ErrorContains(t, v.Err(), "history.retention")
}
