package supervision

import (
	"fmt"

	"github.com/kloros/kloros-observer/actors/scrape"
)

// scrapeSources declares one scrape source per endpoint, with the configured
// checks (the defaults when none are configured).
func scrapeSources(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.Scrape.Enabled {
		return nil, nil
	}
	checks := scrape.DefaultChecks()
	if c.Checks != nil {
		checks = scrape.NormalizeChecks(c.Checks)
	}
	var out []ChildSpec
	for i, ep := range c.Scrape.Endpoints {
		out = append(out, b.Leaf(fmt.Sprintf("scrape:%d", i), PhaseInput, 0, "scrape "+ep+" every "+c.Scrape.Interval.String(),
			scrape.New(scrape.SourceConfig{Config: c.Scrape, Endpoint: ep, Index: i, Checks: checks, Dispatcher: b.PID("dispatcher")}, b.Deps)))
	}
	return out, nil
}
