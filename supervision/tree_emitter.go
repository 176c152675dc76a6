package supervision

import (
	"path/filepath"

	"github.com/kloros/kloros-observer/actors/emit"
)

// emitterSpecs declares the emitter: the only writer of the intents dir.
func emitterSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	ec := c.Emitter
	ec.Dir, ec.DrainTimeout, ec.Health = c.IntentsDir, outputDrainTimeout(c), b.emitHealth()
	ec.DedupFile = filepath.Join(c.StateDir, "emitter", "dedup.json")
	return []ChildSpec{b.Leaf("emitter", PhaseOutput, c.Supervision.MailboxSize,
		"writes intents durably into "+c.IntentsDir, emit.NewEmitter(ec, b.Deps))}, nil
}

// emitHealth is the one emit.Health the emitter reports to and /readyz reads.
func (b *Builder) emitHealth() *emit.Health {
	if b.health == nil {
		b.health = &emit.Health{}
	}
	return b.health
}
