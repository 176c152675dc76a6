package supervision

// supportSpecs is filled in by the support area.
func supportSpecs(b *Builder) ([]ChildSpec, error) {
	return nil, nil
}
