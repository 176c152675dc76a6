package chembus

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/heartbeat"
	"github.com/kloros/kloros-observer/messages"
)

// The watermark's tests run a real zooid registry behind it: these helpers
// start one (heartbeat's own tests have their equivalents).

func spawnReg(t *testing.T, s *actor.ActorSystem, cfg heartbeat.Config, deps actors.Deps) *actor.PID {
	pid := s.Root.Spawn(actor.PropsFromProducer(heartbeat.NewRegistry(cfg, deps)))
	t.Cleanup(func() { _ = s.Root.StopFuture(pid).Wait() })
	return pid
}

func regCfg(t *testing.T, bus *actor.PID, state string) heartbeat.Config {
	return heartbeat.Config{Threshold: time.Second, RecoveryTopic: "CAPABILITY_RESTORED", Retention: 24 * time.Hour,
		MaxZooids: 100, CheckpointEvery: time.Hour, StateFile: filepath.Join(state, "registry.json"), OnKill: "pause", ChemBus: bus}
}

func gapOf(t *testing.T, ch chan any, timeout time.Duration) (*messages.Publish, time.Time) {
	t.Helper()
	for {
		p := actortest.Next[*messages.Publish](t, ch, timeout)
		if p.Topic == messages.TopicGap {
			return p, time.Now()
		}
	}
}
