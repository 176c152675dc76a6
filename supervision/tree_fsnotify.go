package supervision

import "github.com/kloros/kloros-observer/actors/fswatch"

// fsnotifySources declares the file-watch source.
func fsnotifySources(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.Watch.Enabled || len(c.Watch.Paths) == 0 {
		return nil, nil
	}
	return []ChildSpec{b.Leaf("fsnotify", PhaseInput, 0, "inotify on the watch paths",
		fswatch.New(fswatch.Config{Paths: c.Watch.Paths, Dispatcher: b.PID("dispatcher")}, b.Deps))}, nil
}
