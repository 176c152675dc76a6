package supervision

// fsnotifySources is filled in by the fsnotify area.
func fsnotifySources(b *Builder) ([]ChildSpec, error) {
	return nil, nil
}
