// Package telemetry holds kloros-observer's Prometheus metrics.
//
// One *Metrics is made per daemon run (and per test), with its own registry,
// so tests assert on fresh counters. Counts and latencies live here, not in
// logs. Each area of the daemon keeps its metrics in a struct of its own in a
// file of its own (core.go, chembus.go, journald.go, ...), built by NewMetrics.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "kloros_observer"

// Metrics is the set of all metrics of one daemon run.
type Metrics struct {
	Registry  *prometheus.Registry
	Core      *CoreMetrics
	FSWatch   *FSWatchMetrics
	ChemBus   *ChemBusMetrics
	Heartbeat *HeartbeatMetrics
	Rules     *RulesMetrics
	Scrape    *ScrapeMetrics
	Journald  *JournaldMetrics
}

// NewMetrics builds a fresh registry with every metric registered, plus the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Metrics{
		Registry:  reg,
		Core:      newCoreMetrics(reg),
		FSWatch:   newFSWatchMetrics(reg),
		ChemBus:   newChemBusMetrics(reg),
		Heartbeat: newHeartbeatMetrics(reg),
		Rules:     newRulesMetrics(reg),
		Scrape:    newScrapeMetrics(reg),
		Journald:  newJournaldMetrics(reg),
	}
}
