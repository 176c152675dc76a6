package supervision

// supportSpecs: the HTTP actor (tree_web.go: the dashboard, /api/v1,
// /metrics, /healthz, /readyz). (The systemd notifier is not an actor: see
// systemd.go.)
func supportSpecs(b *Builder) ([]ChildSpec, error) { return webSpecs(b) }
