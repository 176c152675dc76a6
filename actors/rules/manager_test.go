package rules_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/dispatch"
	"github.com/kloros/kloros-observer/actors/rules"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

func oneRule(reason string) string {
	return fmt.Sprintf(`version: 1
rules:
  - name: every
    kind: match
    on: [tick_ev]
    intent:
      type: seen
      priority: 3
      reason: "%s {{ str(data.path) }}"
  - name: steady
    kind: match
    on: [tick_ev]
    intent:
      type: steady
      priority: 3
      reason: "steady {{ str(data.path) }}"
`, reason)
}

// intents collects what the rules propose, as the emitter would receive it.
type intents struct {
	mu  sync.Mutex
	got []string
}

func (c *intents) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *messages.EmitIntent:
		c.mu.Lock()
		c.got = append(c.got, m.Intent.Type+" "+m.Intent.Reason)
		c.mu.Unlock()
	case *messages.Flush:
		ctx.Respond(&messages.Flushed{ID: m.ID})
	}
}

func (c *intents) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// A reload in the middle of a stream of events loses none and handles none
// twice: the changed rule's old actor gets every event sent before the swap,
// the new one every event after it; the unchanged rule keeps its actor.
func TestManagerReloadLosesNothingAndDoublesNothing(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	deps := actors.Deps{Logger: slog.New(slog.DiscardHandler), Metrics: telemetry.NewMetrics(), Clock: clock.Real{}}
	file := filepath.Join(t.TempDir(), "r.yaml")
	require.NoError(t, os.WriteFile(file, []byte(oneRule("before")), 0o644))
	set, err := rules.Load([]string{file}, nil)
	require.NoError(t, err)

	sink := &intents{}
	emitter := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return sink }))
	// The dispatcher starts with the first actors' PIDs, as the tree does.
	routes := map[string][]*actor.PID{}
	var pids []*actor.PID
	for _, r := range set.Rules() {
		pid := actor.NewPID(system.Address(), "rules/"+r.Name())
		pids = append(pids, pid)
		routes["tick_ev"] = append(routes["tick_ev"], pid)
	}
	disp, err := system.Root.SpawnNamed(actor.PropsFromProducer(dispatch.New(dispatch.Config{DedupWindow: time.Minute, Routes: routes, Rules: pids, AwaitRoutes: true}, deps)), "dispatcher")
	require.NoError(t, err)
	live := &rules.Live{}
	_, err = system.Root.SpawnNamed(actor.PropsFromProducer(rules.NewManager(rules.ManagerConfig{
		Files: []string{file}, Initial: set, Emitter: emitter, Dispatcher: disp, Live: live,
		ChildProps: func(p actor.Producer) *actor.Props { return actor.PropsFromProducer(p) },
	}, deps)), "rules")
	require.NoError(t, err)
	manager := actor.NewPID(system.Address(), "rules")

	const n = 4000
	reloaded := make(chan *messages.ReloadRulesResult, 1)
	for i := range n {
		if i == n/2 {
			require.NoError(t, os.WriteFile(file, []byte(oneRule("after")), 0o644))
			f := system.Root.RequestFuture(manager, &messages.ReloadRules{Reason: "test"}, 10*time.Second)
			go func() {
				res, err := f.Result()
				require.NoError(t, err)
				reloaded <- res.(*messages.ReloadRulesResult)
			}()
		}
		system.Root.Send(disp, &messages.Event{Source: "test", Type: "tick_ev", TS: time.Now(), Data: map[string]any{"path": fmt.Sprint(i)}})
	}
	res := <-reloaded
	require.True(t, res.OK, res.Err)
	require.Equal(t, []string{"steady"}, res.Kept)
	require.Equal(t, []string{"every"}, res.Changed)
	// A few events after the answer reach only the new definition.
	for i := n; i < n+10; i++ {
		system.Root.Send(disp, &messages.Event{Source: "test", Type: "tick_ev", TS: time.Now(), Data: map[string]any{"path": fmt.Sprint(i)}})
	}
	total := n + 10
	require.Eventually(t, func() bool { return len(sink.snapshot()) == 2*total }, 20*time.Second, 10*time.Millisecond,
		"got %d of %d intents", len(sink.snapshot()), 2*total)
	time.Sleep(100 * time.Millisecond) // nothing more may come: a doubled event would show here
	got := sink.snapshot()
	require.Len(t, got, 2*total)
	perEvent := map[string]int{}
	before, after := 0, 0
	for _, g := range got {
		parts := strings.Fields(g)
		perEvent[parts[0]+" "+parts[2]]++
		switch parts[1] {
		case "before":
			before++
		case "after":
			after++
		}
	}
	for i := range total {
		require.Equal(t, 1, perEvent[fmt.Sprintf("seen %d", i)], "event %d handled once by the changed rule", i)
		require.Equal(t, 1, perEvent[fmt.Sprintf("steady %d", i)], "event %d handled once by the kept rule", i)
	}
	require.Positive(t, before)
	require.Positive(t, after)
	require.Equal(t, total, before+after)
	for i := n; i < total; i++ {
		require.Contains(t, got, fmt.Sprintf("seen after %d", i))
	}
	set2, actors2 := live.Current()
	require.NotNil(t, set2.Rule("every"))
	require.Len(t, actors2, 2)
	require.Equal(t, "rules/steady", actors2[1].Id, "the kept rule kept its actor")
	require.NotEqual(t, "rules/every", actors2[0].Id, "the changed rule got a new one")
}

// A set that does not load is refused whole; the running rules go on.
func TestManagerRefusesABadSet(t *testing.T) {
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	deps := actors.Deps{Logger: slog.New(slog.DiscardHandler), Metrics: telemetry.NewMetrics(), Clock: clock.Real{}}
	file := filepath.Join(t.TempDir(), "r.yaml")
	require.NoError(t, os.WriteFile(file, []byte(oneRule("before")), 0o644))
	set, err := rules.Load([]string{file}, nil)
	require.NoError(t, err)
	sink := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	var outcomes []bool
	var mu sync.Mutex
	mgr := system.Root.Spawn(actor.PropsFromProducer(rules.NewManager(rules.ManagerConfig{
		Files: []string{file}, Initial: set, Emitter: sink, Dispatcher: sink,
		ChildProps: func(p actor.Producer) *actor.Props { return actor.PropsFromProducer(p) },
		OnReload:   func(ok bool, _ time.Time) { mu.Lock(); outcomes = append(outcomes, ok); mu.Unlock() },
	}, deps)))
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(oneRule("x"), "kind: match", "kind: nope", 1)), 0o644))
	res, err := system.Root.RequestFuture(mgr, &messages.ReloadRules{Reason: "test"}, 10*time.Second).Result()
	require.NoError(t, err)
	r := res.(*messages.ReloadRulesResult)
	require.False(t, r.OK)
	require.Contains(t, r.Err, "r.yaml:4:11")
	mu.Lock()
	require.Equal(t, []bool{false}, outcomes)
	mu.Unlock()
}
