package supervision

import (
	"path/filepath"

	"github.com/kloros/kloros-observer/actors/heartbeat"
)

// zooidSpecs declares the zooid registry; it spawns one watcher per zooid.
func zooidSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.ChemBus.Enabled {
		return nil, nil
	}
	return []ChildSpec{b.Leaf("zooids", PhaseRules, c.Supervision.MailboxSize,
		"one watcher per zooid; CAPABILITY_GAP after "+c.Heartbeat.Threshold.String()+" of silence",
		heartbeat.NewRegistry(heartbeat.Config{
			Threshold: c.Heartbeat.Threshold, NicheThresholds: c.Heartbeat.NicheThresholds, GapRepeat: c.Heartbeat.GapRepeat,
			PublishRecovery: c.Heartbeat.PublishRecovery, RecoveryTopic: c.Heartbeat.RecoveryTopic,
			Retention: c.Heartbeat.Retention, MaxZooids: c.Heartbeat.MaxZooids, CheckpointEvery: c.Heartbeat.CheckpointEvery,
			StateFile: filepath.Join(c.StateDir, "heartbeat", "registry.json"), OnKill: c.ChemBus.OnKill,
			ChemBus: b.PID("chembus"), WatcherMailbox: b.Mailboxes.Bounded("watcher", 1000),
			Watermark: b.busWatermark(),
		}, b.Deps))}, nil
}
