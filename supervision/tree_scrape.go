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
		checks = make([]scrape.Check, len(c.Checks))
		for i, ch := range c.Checks {
			mode := ch.Mode
			if mode == "" {
				mode = "gauge"
			}
			checks[i] = scrape.Check{Name: ch.Name, Metric: ch.Metric, Labels: ch.Labels, Exclude: ch.Exclude, Mode: mode,
				Window: ch.Window, Ratio: ch.Ratio, Invert: ch.Invert, Minus: ch.Minus, Op: ch.Op, Value: ch.Value,
				EventType: ch.EventType, Renotify: ch.Renotify}
		}
	}
	var out []ChildSpec
	for i, ep := range c.Scrape.Endpoints {
		out = append(out, b.Leaf(fmt.Sprintf("scrape:%d", i), PhaseInput, 0, "scrape "+ep+" every "+c.Scrape.Interval.String(),
			scrape.New(scrape.ScrapeConfig{Endpoint: ep, Index: i, Interval: c.Scrape.Interval, Timeout: c.Scrape.Timeout,
				MaxBodyBytes: c.Scrape.MaxBodyBytes, Checks: checks, Dispatcher: b.PID("dispatcher")}, b.Deps)))
	}
	return out, nil
}
