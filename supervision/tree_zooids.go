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
	hc := c.Heartbeat
	hc.StateFile, hc.OnKill = filepath.Join(c.StateDir, "heartbeat", "registry.json"), c.ChemBus.OnKill
	hc.ChemBus, hc.WatcherMailbox, hc.Watermark = b.PID("chembus"), b.Mailboxes.Bounded("watcher", 1000), b.busWatermark()
	return []ChildSpec{b.Leaf("zooids", PhaseRules, c.Supervision.MailboxSize,
		"one watcher per zooid; CAPABILITY_GAP after "+c.Heartbeat.Threshold.String()+" of silence",
		heartbeat.NewRegistry(hc, b.Deps))}, nil
}
