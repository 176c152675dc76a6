package telemetry

import "github.com/prometheus/client_golang/prometheus"

// ScrapeMetrics covers the Prometheus scrape sources. Endpoints are labelled
// by their index in the configuration (bounded cardinality).
type ScrapeMetrics struct {
	Scrapes  *prometheus.CounterVec   // endpoint, result=ok|connect|timeout|status|too_large|content_type|parse
	Duration *prometheus.HistogramVec // endpoint
	Up       *prometheus.GaugeVec     // endpoint
	Firing   *prometheus.GaugeVec     // endpoint, check: series currently over the threshold
	Skipped  *prometheus.CounterVec   // endpoint: ticks skipped because a scrape was still running
}

func newScrapeMetrics(reg prometheus.Registerer) *ScrapeMetrics {
	m := &ScrapeMetrics{
		Scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "scrapes_total",
			Help: "Scrapes of Prometheus endpoints, by endpoint index and result."}, []string{"endpoint", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "scrape_duration_seconds",
			Help: "Duration of scrapes, by endpoint index.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 8)}, []string{"endpoint"}),
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "scrape_up",
			Help: "1 when the last scrape of the endpoint succeeded."}, []string{"endpoint"}),
		Firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "check_firing_series",
			Help: "Series currently over a threshold check, by endpoint index and check."}, []string{"endpoint", "check"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "scrapes_skipped_total",
			Help: "Scrape ticks skipped because the previous scrape had not finished, by endpoint index."}, []string{"endpoint"}),
	}
	reg.MustRegister(m.Scrapes, m.Duration, m.Up, m.Firing, m.Skipped)
	return m
}
