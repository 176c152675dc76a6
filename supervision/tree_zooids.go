package supervision

// zooidSpecs is filled in by the zooids area.
func zooidSpecs(b *Builder) ([]ChildSpec, error) {
	return nil, nil
}
