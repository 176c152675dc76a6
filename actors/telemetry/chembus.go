package telemetry

import "github.com/prometheus/client_golang/prometheus"

// ChemBusMetrics covers the ZeroMQ side.
type ChemBusMetrics struct {
	Received      *prometheus.CounterVec // topic
	Dropped       *prometheus.CounterVec // reason
	Published     *prometheus.CounterVec // topic
	PublishErrors prometheus.Counter
	ProxyEmbedded prometheus.Gauge
}

// HeartbeatMetrics covers the heartbeat monitor (registry and watchers).
type HeartbeatMetrics struct {
	Zooids         *prometheus.GaugeVec // state=alive|silent
	Gaps           prometheus.Counter
	Recoveries     prometheus.Counter
	Refused        prometheus.Counter
	Restarts       prometheus.Counter
	Rearmed        prometheus.Counter
	Paused         prometheus.Gauge
	StallsDetected prometheus.Counter
	Forgotten      prometheus.Counter
	HeartbeatAge   prometheus.Histogram
}

func newChemBusMetrics(reg prometheus.Registerer) *ChemBusMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m := &ChemBusMetrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "chembus_messages_received_total",
			Help: "Valid ChemBus messages received, by topic."}, []string{"topic"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "chembus_messages_dropped_total",
			Help: "ChemBus messages dropped as malformed, by reason."}, []string{"reason"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "chembus_messages_published_total",
			Help: "Messages published on ChemBus, by topic."}, []string{"topic"}),
		PublishErrors: c("chembus_publish_errors_total", "Messages that could not be published on ChemBus."),
		ProxyEmbedded: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "chembus_proxy_embedded",
			Help: "1 when this process runs the XSUB/XPUB proxy itself."}),
	}
	reg.MustRegister(m.Received, m.Dropped, m.Published, m.PublishErrors, m.ProxyEmbedded)
	return m
}

func newHeartbeatMetrics(reg prometheus.Registerer) *HeartbeatMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	m := &HeartbeatMetrics{
		Zooids: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "zooids",
			Help: "Zooids tracked by the heartbeat monitor, by state."}, []string{"state"}),
		Gaps:           c("capability_gaps_published_total", "CAPABILITY_GAP messages published (one per outage episode, plus repeats)."),
		Recoveries:     c("zooid_recoveries_total", "Outage episodes closed by a zooid beating again."),
		Refused:        c("zooids_refused_total", "Heartbeats from new zooids refused because heartbeat.max_zooids are tracked."),
		Restarts:       c("zooid_restarts_detected_total", "Zooid restarts detected: a heartbeat whose uptime_s went down to less than the time since the previous one (never for wall-clock uptime_s)."),
		Rearmed:        c("zooid_deadlines_rearmed_total", "Deadlines re-armed instead of reported because this process had stalled."),
		StallsDetected: c("self_stalls_detected_total", "Times this process was found not running for a while (SIGSTOP, VM pause, clock jump)."),
		Forgotten:      c("zooids_forgotten_total", "Zooids forgotten after being silent longer than heartbeat.retention."),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "gap_publishing_paused",
			Help: "1 while governance.kill has paused CAPABILITY_GAP publishing."}),
		HeartbeatAge: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "heartbeat_interval_seconds",
			Help:    "Time between consecutive heartbeats of a zooid.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 15, 20, 30, 60, 120}}),
	}
	reg.MustRegister(m.Zooids, m.Gaps, m.Recoveries, m.Refused, m.Restarts, m.Rearmed, m.Paused, m.StallsDetected, m.Forgotten, m.HeartbeatAge)
	return m
}
