package rules

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
)

func promo(name string, at time.Time) *messages.Event {
	return &messages.Event{Source: "inotify", Type: "promotion_new", TS: at,
		Data: map[string]any{"path": "/home/kloros/out/promotions/" + name}}
}

// The report: three promotions → a cluster intent; restart; three
// more within the hour → a second intent, though the cooldown is an hour.
// With the state checkpointed and restored, the cooldown holds.
func TestCheckpointKeepsCooldownAcrossRestart(t *testing.T) {
	set := Default()
	c := set.Rule("promotion_cluster")
	t0 := testStart
	in := c.New()
	var fired int
	for i, n := range []string{"a", "b", "c"} {
		fired += len(in.OnEvent(promo(n, t0), t0.Add(time.Duration(i)*time.Minute)))
	}
	require.Equal(t, 1, fired)
	// one promotion of the next cluster before the restart: a half-filled window
	fired += len(in.OnEvent(promo("d", t0), t0.Add(5*time.Minute)))

	path := filepath.Join(t.TempDir(), "rules", CheckpointName)
	st, err := in.Snapshot()
	require.NoError(t, err)
	require.NoError(t, WriteCheckpoint(path, []RuleState{{Name: c.Name(), Hash: c.Hash(), State: st}}, t0))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	saved, err := ReadCheckpoint(path)
	require.NoError(t, err)
	states := Applicable(saved, set, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r, err := Factory(c, states[c.Name()], slog.New(slog.NewTextHandler(io.Discard, nil)))()
	require.NoError(t, err)
	for i, n := range []string{"e", "f"} {
		fired += len(r.OnEvent(promo(n, t0), t0.Add(time.Duration(6+i)*time.Minute)))
	}
	require.Equal(t, 1, fired, "the restored cooldown holds back the second cluster")

	// Without the checkpoint the same events fire again (the test can fail).
	fresh := c.New()
	n := 0
	for i, name := range []string{"d", "e", "f"} {
		n += len(fresh.OnEvent(promo(name, t0), t0.Add(time.Duration(5+i)*time.Minute)))
	}
	require.Equal(t, 1, n)
}

// A checkpoint made by a rule whose definition changed is ignored for that
// rule (logged) and applied to the others.
func TestCheckpointOfChangedRuleIgnored(t *testing.T) {
	old := Default()
	var states []RuleState
	for _, name := range []string{"promotion_cluster", "heartbeat_stall"} {
		in := old.Rule(name).New()
		in.OnTick(testStart)
		in.OnEvent(promo("a", testStart), testStart)
		b, err := in.Snapshot()
		require.NoError(t, err)
		states = append(states, RuleState{Name: name, Hash: in.Hash(), State: b})
	}
	path := filepath.Join(t.TempDir(), CheckpointName)
	require.NoError(t, WriteCheckpoint(path, states, testStart))
	saved, err := ReadCheckpoint(path)
	require.NoError(t, err)
	changed, err := Load(nil, map[string]any{"promotion_cluster": map[string]any{"threshold": 4}})
	require.NoError(t, err)
	var logs bytes.Buffer
	got := Applicable(saved, changed, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NotContains(t, got, "promotion_cluster")
	require.Contains(t, got, "heartbeat_stall")
	require.Contains(t, logs.String(), "rule=promotion_cluster why=\"rule definition changed\"")

	missing, err := ReadCheckpoint(filepath.Join(t.TempDir(), "none.json"))
	require.NoError(t, err)
	require.Empty(t, missing)
}

// Every kind's state survives a snapshot and restore: the restored
// instance behaves as the original would.
func TestSnapshotRestoreEveryKind(t *testing.T) {
	for _, c := range Default().Rules() {
		t.Run(c.Name(), func(t *testing.T) {
			a, b := c.New(), c.New()
			for i := range 3 {
				now := testStart.Add(time.Duration(i) * time.Minute)
				a.OnTick(now)
				for _, typ := range c.Subscribes() {
					a.OnEvent(&messages.Event{Source: "test", Type: typ, TS: now, Data: map[string]any{"unit": "u.service"}}, now)
				}
			}
			st, err := a.Snapshot()
			require.NoError(t, err)
			require.NoError(t, b.Restore(st))
			st2, err := b.Snapshot()
			require.NoError(t, err)
			require.JSONEq(t, string(st), string(st2))
			later := testStart.Add(2 * time.Hour)
			if c.Kind() == "absence" { // a restored silence gets grace (TestRestoredAbsenceGetsGrace)
				return
			}
			require.Equal(t, len(a.OnTick(later)), len(b.OnTick(later)))
		})
	}
}

// The heartbeat-stall rule actor fires from its own timer (no event
// arrives), and answers a snapshot request with its state.
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
	set, err := Load(nil, map[string]any{"heartbeat_stall": map[string]any{"stall_after": "200ms"}})
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := set.Rule("heartbeat_stall")
	pid := s.Root.Spawn(actor.PropsFromProducer(NewActor(c.Name(), Factory(c, nil, logger), emitter, clock.Real{}, logger, nil)))
	start := time.Now()
	select {
	case m := <-got:
		in := m.(*messages.EmitIntent).Intent
		require.Equal(t, "alert_heartbeat_stall", in.Type)
		require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("stall never reported")
	}
	s.Root.Send(pid, &messages.Flush{ID: 1})
	select {
	case m := <-got:
		require.IsType(t, &messages.Flush{}, m, "a stall is reported once")
	case <-time.After(5 * time.Second):
		t.Fatal("flush not forwarded")
	}
	states, err := Collect(s.Root, []*actor.PID{pid}, 5*time.Second)
	require.NoError(t, err)
	require.Len(t, states, 1)
	require.Equal(t, c.Hash(), states[0].Hash)
	require.Contains(t, string(states[0].State), `"alerted":true`)
}

// After a restart, a silence that fell due while the daemon was down gets
// one stall_after of grace (beats it could not see may have happened); one
// already reported is not reported again.
func TestRestoredAbsenceGetsGrace(t *testing.T) {
	c := Default().Rule("heartbeat_stall")
	a := c.New()
	a.OnTick(testStart)
	a.OnEvent(&messages.Event{Source: "inotify", Type: "dream_heartbeat", TS: testStart}, testStart)
	st, err := a.Snapshot()
	require.NoError(t, err)

	b := c.New()
	require.NoError(t, b.Restore(st))
	back := testStart.Add(time.Hour) // down for an hour
	require.Empty(t, b.OnTick(back), "no stall reported at the first tick after the restart")
	require.Empty(t, b.OnTick(back.Add(4*time.Minute)))
	require.Len(t, b.OnTick(back.Add(5*time.Minute)), 1, "reported after one stall_after of grace")

	st, err = b.Snapshot()
	require.NoError(t, err)
	d := c.New()
	require.NoError(t, d.Restore(st))
	require.Empty(t, d.OnTick(back.Add(2*time.Hour)), "a stall already reported is not reported again")
}
