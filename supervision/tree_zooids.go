package supervision

import (
	"path/filepath"

	"github.com/kloros/kloros-observer/actors/heartbeat"
)

// zooidSpecs declares the zooid registry; it spawns one watcher per zooid.
// It shares the silences and its View with the HTTP actor (tree_web.go).
func zooidSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.ChemBus.Enabled {
		return nil, nil
	}
	silences, err := b.silenceStore()
	if err != nil {
		return nil, err
	}
	hc := c.Heartbeat
	hc.StateFile, hc.OnKill = filepath.Join(c.StateDir, "heartbeat", "registry.json"), c.ChemBus.OnKill
	hc.ChemBus, hc.WatcherMailbox, hc.Watermark = b.PID("chembus"), b.Mailboxes.Bounded("watcher", 1000), b.busWatermark()
	hc.Silences, hc.View = silences, b.zooidView()
	return []ChildSpec{b.Leaf("zooids", PhaseRules, c.Supervision.MailboxSize,
		"one watcher per zooid; CAPABILITY_GAP after "+c.Heartbeat.Threshold.String()+" of silence",
		heartbeat.NewRegistry(hc, b.Deps))}, nil
}
