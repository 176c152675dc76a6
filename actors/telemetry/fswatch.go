package telemetry

import "github.com/prometheus/client_golang/prometheus"

// FSWatchMetrics covers the file-watch source.
type FSWatchMetrics struct {
	Watches prometheus.Gauge
	Errors  *prometheus.CounterVec // kind=overflow|watch|other
	Pending prometheus.Gauge       // configured paths not existing yet
}

func newFSWatchMetrics(reg prometheus.Registerer) *FSWatchMetrics {
	m := &FSWatchMetrics{
		Watches: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "fswatch_watched_directories",
			Help: "Directories the file-watch source has an inotify watch on."}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "fswatch_errors_total",
			Help: "File-watch errors by kind (overflow: the kernel queue overflowed and a rescan followed)."}, []string{"kind"}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "fswatch_pending_paths",
			Help: "Configured watch paths that do not exist yet (their nearest existing parent is watched)."}),
	}
	reg.MustRegister(m.Watches, m.Errors, m.Pending)
	return m
}
