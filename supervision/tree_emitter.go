package supervision

// emitterSpecs is filled in by the emitter area.
func emitterSpecs(b *Builder) ([]ChildSpec, error) {
	return nil, nil
}
