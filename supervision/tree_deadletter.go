package supervision

import "github.com/kloros/kloros-observer/actors/deadletter"

// deadletterSources declares the dead-letter source.
func deadletterSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config.DeadLetter
	if !c.Enabled {
		return nil, nil
	}
	c.CheckpointFile, c.Dispatcher = deadletter.CheckpointFile(b.Config.StateDir), b.PID("dispatcher")
	return []ChildSpec{b.Leaf("deadletter", PhaseInput, 0, "the intent router's dead letters in "+c.File,
		deadletter.New(c, b.Deps))}, nil
}
