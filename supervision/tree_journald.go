package supervision

// journaldSources: the journald sources are not built yet (issue 4). Their
// settings are accepted and validated so configs stay forward-compatible;
// NotYetBuilt makes the daemon say at start that they do nothing.
func journaldSources(b *Builder) ([]ChildSpec, error) {
	if b.Config.Journald.Enabled {
		b.notYet("journald source (journald.enabled / --journald-enabled)")
	}
	return nil, nil
}
