package supervision

import "github.com/kloros/kloros-observer/actors/deadletter"

// deadletterSources declares the dead-letter source (deadletter:).
func deadletterSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.DeadLetter.Enabled {
		return nil, nil
	}
	return []ChildSpec{b.Leaf("deadletter", PhaseInput, 0, "the intent router's dead letters in "+c.DeadLetter.File,
		deadletter.New(deadletter.Params{Config: c.DeadLetter, CheckpointFile: deadletter.CheckpointFile(c.StateDir),
			Dispatcher: b.PID("dispatcher")}, b.Deps))}, nil
}
