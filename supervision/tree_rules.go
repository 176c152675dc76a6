package supervision

// ruleSpecs is filled in by the rules area.
func ruleSpecs(b *Builder) ([]ChildSpec, error) {
	return nil, nil
}
