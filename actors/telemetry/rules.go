package telemetry

import "github.com/prometheus/client_golang/prometheus"

// RulesMetrics covers rule reloads (Prometheus' own names for them).
type RulesMetrics struct {
	LastReloadSuccessful prometheus.Gauge
	LastReloadSuccessTS  prometheus.Gauge
	Reloads              *prometheus.CounterVec // result=success|failure
}

func newRulesMetrics(reg prometheus.Registerer) *RulesMetrics {
	m := &RulesMetrics{
		LastReloadSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "rules_last_reload_successful",
			Help: "1 if the last rule reload (or the start) succeeded, 0 if the last reload was refused and the previous rules still run."}),
		LastReloadSuccessTS: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "rules_last_reload_success_timestamp_seconds",
			Help: "When the rules were last loaded successfully (start or reload)."}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rules_reloads_total",
			Help: "Rule reloads, by result."}, []string{"result"}),
	}
	reg.MustRegister(m.LastReloadSuccessful, m.LastReloadSuccessTS, m.Reloads)
	return m
}

// Reloaded records the outcome of a rule load.
func (m *RulesMetrics) Reloaded(ok bool, unixSeconds float64) {
	if ok {
		m.LastReloadSuccessful.Set(1)
		m.LastReloadSuccessTS.Set(unixSeconds)
		m.Reloads.WithLabelValues("success").Inc()
		return
	}
	m.LastReloadSuccessful.Set(0)
	m.Reloads.WithLabelValues("failure").Inc()
}
