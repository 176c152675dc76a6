package supervision

// scrapeSources: the Prometheus scrape sources are not built yet (issue 5).
func scrapeSources(b *Builder) ([]ChildSpec, error) {
	if b.Config.Scrape.Enabled {
		b.notYet("Prometheus scrape source (scrape.enabled / --scrape-enabled, --metrics-endpoint, --metrics-interval)")
	}
	return nil, nil
}
