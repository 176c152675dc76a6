package supervision

// supportSpecs: the HTTP /metrics, /healthz and /readyz endpoint (issue 5)
// and the systemd notifier (issue 6) are not built yet.
func supportSpecs(b *Builder) ([]ChildSpec, error) {
	if b.Config.HTTP.Enabled {
		b.notYet("HTTP endpoint (http.enabled / --http-enabled, --http-listen)")
	}
	return nil, nil
}
