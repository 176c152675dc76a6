package telemetry

import "github.com/prometheus/client_golang/prometheus"

// JournaldMetrics covers the journald sources (label source=units|kernel).
type JournaldMetrics struct {
	Entries     *prometheus.CounterVec
	Events      *prometheus.CounterVec
	Bytes       *prometheus.CounterVec
	Truncated   *prometheus.CounterVec
	Errors      *prometheus.CounterVec // source, kind=open|read|seek
	LastAge     *prometheus.GaugeVec
	Checkpoints *prometheus.CounterVec
	Missed      *prometheus.CounterVec
}

func newJournaldMetrics(reg prometheus.Registerer) *JournaldMetrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	m := &JournaldMetrics{
		Entries:     cv("journal_entries_read_total", "Journal entries read (matched by the source's filter).", "source"),
		Events:      cv("journal_events_total", "Journal entries that became events.", "source"),
		Bytes:       cv("journal_message_bytes_total", "MESSAGE bytes read from the journal.", "source"),
		Truncated:   cv("journal_messages_truncated_total", "MESSAGE fields truncated to journald.max_message_bytes.", "source"),
		Errors:      cv("journal_errors_total", "Journal open/read/seek errors (each retried).", "source", "kind"),
		Checkpoints: cv("journal_checkpoints_total", "Cursor checkpoints written (each after everything before it was durable).", "source"),
		Missed:      cv("journal_entries_possibly_missed_total", "Entries that may have been missed because the checkpointed cursor was vacuumed.", "source"),
		LastAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "journal_last_entry_age_seconds",
			Help: "Age of the last entry read when it was read (lag)."}, []string{"source"}),
	}
	reg.MustRegister(m.Entries, m.Events, m.Bytes, m.Truncated, m.Errors, m.LastAge, m.Checkpoints, m.Missed)
	return m
}
