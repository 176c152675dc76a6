package supervision

import "github.com/kloros/kloros-observer/actors/fswatch"

// fswatchSources declares the file-watch source.
func fswatchSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config.FSWatch
	if !c.Enabled || len(c.Paths) == 0 {
		return nil, nil
	}
	c.Dispatcher = b.PID("dispatcher")
	return []ChildSpec{b.Leaf("fswatch", PhaseInput, 0, "inotify on the watch paths", fswatch.New(c, b.Deps))}, nil
}
