package supervision

import "github.com/kloros/kloros-observer/actors/emit"

// emitterSpecs declares the emitter: the only writer of the intents dir.
func emitterSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	ec := c.Emitter
	ec.Dir, ec.DrainTimeout = c.IntentsDir, outputDrainTimeout(c)
	return []ChildSpec{b.Leaf("emitter", PhaseOutput, c.Supervision.MailboxSize,
		"writes intents durably into "+c.IntentsDir, emit.NewEmitter(ec, b.Deps))}, nil
}
