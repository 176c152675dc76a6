package heartbeat

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/messages"
)

func (m *monitor) sweep() {
	m.t.Helper()
	m.s.Root.Send(m.reg, sweepTick{})
	m.flush()
}

func viewState(v *View, name string) ZooidInfo {
	for _, z := range v.Zooids() {
		if z.Name == name {
			return z
		}
	}
	return ZooidInfo{}
}

// A silenced zooid's episode opens without a CAPABILITY_GAP; when the
// silence is expired while the zooid is still silent, the gap goes out then,
// with the same incident id.
func TestRegistrySilenceHoldsTheGap(t *testing.T) {
	state := t.TempDir()
	fk := clock.NewFake(epoch)
	store, err := silence.Open(filepath.Join(state, "silences.json"), fk.Now)
	require.NoError(t, err)
	view := NewView()
	m := newMonitor(t, fk, actortest.NewSystem(t), func(bus *actor.PID) Config {
		c := regCfg(t, bus, state)
		c.Silences, c.View = store, view
		return c
	})
	sl, err := store.Add(silence.Spec{Pattern: "maint-.*", Until: fk.Now().Add(time.Hour), Comment: "planned"})
	require.NoError(t, err)
	m.beat("maint-1", "n", 1)
	m.beat("other", "n", 1)
	m.advance(1100 * time.Millisecond)
	require.Equal(t, "other", m.gap().Signal.Facts["zooid"])
	m.noPublish()
	m.sweep()
	z := viewState(view, "maint-1")
	require.Equal(t, StateSilent, z.State, "the episode is open, only not announced")
	require.NotEmpty(t, z.Incident)

	_, err = store.Expire(sl.ID)
	require.NoError(t, err)
	m.sweep()
	p := m.gap()
	require.Equal(t, "maint-1", p.Signal.Facts["zooid"])
	require.Equal(t, z.Incident, *p.Signal.IncidentID, "the same episode")
	m.sweep()
	m.noPublish()
}

// Forget drops a zooid (and its open episode) now; View shows it at once;
// it is new when it beats again.
func TestRegistryForgetAndView(t *testing.T) {
	state := t.TempDir()
	view := NewView()
	m := startMonitor(t, func(bus *actor.PID) Config {
		c := regCfg(t, bus, state)
		c.View = view
		return c
	})
	m.beat("a", "n", 1)
	m.beat("b", "n", 1)
	m.sweep()
	require.Equal(t, 2, view.Len())
	require.Equal(t, "a", view.Zooids()[0].Name, "by name")
	m.advance(1100 * time.Millisecond)
	m.gap()
	m.gap()

	forget := func(name string) bool {
		res, err := m.s.Root.RequestFuture(m.reg, &messages.ForgetZooidRequest{Zooid: name}, 5*time.Second).Result()
		require.NoError(t, err)
		return res.(*messages.ForgetZooidResponse).Known
	}
	require.True(t, forget("a"))
	require.Equal(t, 1, view.Len(), "at once")
	require.False(t, forget("a"))

	m.beat("a", "n", 1) // back as new: a watcher again, a gap again
	m.sweep()
	require.Equal(t, 2, view.Len())
	m.advance(1100 * time.Millisecond)
	require.Equal(t, "a", m.gap().Signal.Facts["zooid"])
}
