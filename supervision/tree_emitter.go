package supervision

import "github.com/kloros/kloros-observer/actors/emit"

// emitterSpecs declares the emitter: the only writer of the intents dir.
func emitterSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	return []ChildSpec{b.Leaf("emitter", PhaseOutput, c.Supervision.MailboxSize,
		"writes intents durably into "+c.IntentsDir,
		emit.NewEmitter(emit.EmitterConfig{
			Dir: c.IntentsDir, DedupWindow: c.Emitter.DedupWindow, Retention: c.Emitter.Retention,
			RetryInitial: c.Emitter.RetryInitial, RetryMax: c.Emitter.RetryMax, MaxBatch: c.Emitter.MaxBatch,
			DrainTimeout: outputDrainTimeout(c), MaxQueued: c.Emitter.MaxQueued,
		}, b.Deps))}, nil
}
