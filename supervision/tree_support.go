package supervision

import "github.com/kloros/kloros-observer/actors/web"

// supportSpecs: the HTTP /metrics, /healthz and /readyz endpoint. (The
// systemd notifier is not an actor: see systemd.go.)
func supportSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.HTTP.Enabled {
		return nil, nil
	}
	hc := c.HTTP
	hc.IntentsDir, hc.Ready = c.IntentsDir, b.Ready
	hc.NotReady = append(hc.NotReady, b.emitHealth().NotReady)
	hc.Handlers = chaosHandlers(b) // none in a normal build
	return []ChildSpec{b.Leaf("http", PhaseSupport, 0, "/metrics, /healthz, /readyz on "+c.HTTP.Listen,
		web.NewHTTPServer(hc, b.Deps))}, nil
}
