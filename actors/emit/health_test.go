package emit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/messages"
)

// Health says not ready, with the reason and the queue, while intents wait
// for a failing directory, and ready again once they drained (issue 15 #3:
// /readyz said ready while 100 intents waited for a full filesystem).
func TestEmitterHealthWhileFailing(t *testing.T) {
	s := actortest.NewSystem(t)
	cfg := emitterCfg(filepath.Join(t.TempDir(), "intents"))
	cfg.Health = &Health{}
	deps := actortest.Deps(t, nil)
	p, ch := actortest.Probe(t, s)
	em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(cfg, deps)))
	s.Root.Send(em, &messages.EmitIntent{Intent: intent("first"), ReplyTo: p})
	actortest.Next[*messages.IntentWritten](t, ch, 5*time.Second)
	require.Empty(t, cfg.Health.NotReady(), "ready while writes land")

	require.NoError(t, os.RemoveAll(cfg.Dir))
	breakDir(t, cfg.Dir)
	for i := range 3 {
		s.Root.Send(em, &messages.EmitIntent{Intent: intent("queued " + itoa(int64(i))), ReplyTo: p})
	}
	require.Eventually(t, func() bool { return cfg.Health.NotReady() != "" }, 5*time.Second, 5*time.Millisecond)
	why := cfg.Health.NotReady()
	require.Contains(t, why, "not_a_directory")
	require.Contains(t, why, "3 intents queued")

	require.NoError(t, os.Remove(cfg.Dir))
	for range 3 {
		actortest.Next[*messages.IntentWritten](t, ch, 10*time.Second)
	}
	require.Eventually(t, func() bool { return cfg.Health.NotReady() == "" }, 5*time.Second, 5*time.Millisecond, "ready again once drained")
}
