package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// CoreMetrics covers the supervision tree and the observer pipeline.
type CoreMetrics struct {
	// Supervision.
	ActorRestarts  *prometheus.CounterVec // actor
	ActorFailures  *prometheus.CounterVec // actor, kind=panic|error
	ActorEscalated *prometheus.CounterVec // actor
	MailboxDropped *prometheus.CounterVec // actor

	// Pipeline.
	Events        *prometheus.CounterVec // source, type: produced by a source (before dedup)
	EventsDeduped *prometheus.CounterVec // source, type: dropped by the dispatcher's dedup
	Intents       *prometheus.CounterVec // type: written durably
	IntentsDedup  *prometheus.CounterVec // type: dropped as identical within the dedup window
	EmitFailures  *prometheus.CounterVec // reason
	IntentsLost   *prometheus.CounterVec // reason=queue_full|shutdown: accepted intents never written
	IntentsQueued prometheus.Gauge       // intents accepted and not yet durable (writer queue and overflow)
	SpoolFailures prometheus.Counter
	SpoolLost     *prometheus.CounterVec // reason=queue_full|shutdown: events accepted by the spool never written
	SpoolQueued   prometheus.Gauge       // events accepted by the spool and not yet durable
	Pruned        *prometheus.CounterVec // what=intents|events|tmp
	StartTime     prometheus.Gauge
}

func newCoreMetrics(reg prometheus.Registerer) *CoreMetrics {
	m := &CoreMetrics{
		ActorRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "actor_restarts_total",
			Help: "Actor restarts ordered by a supervisor, by actor.",
		}, []string{"actor"}),
		ActorFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "actor_failures_total",
			Help: "Actor failures (panics and returned errors) seen by supervisors, by actor.",
		}, []string{"actor"}),
		ActorEscalated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "actor_escalations_total",
			Help: "Actors stopped after exceeding their restart intensity, failure escalated to the parent.",
		}, []string{"actor"}),
		MailboxDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mailbox_dropped_messages_total",
			Help: "Messages dropped because an actor's bounded mailbox was full, by actor.",
		}, []string{"actor"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_total",
			Help: "Events produced by sources (before dedup), by source and type.",
		}, []string{"source", "type"}),
		EventsDeduped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_deduplicated_total",
			Help: "Events dropped as repeats within the dedup window, by source and type.",
		}, []string{"source", "type"}),
		Intents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "intents_written_total",
			Help: "Intent files written durably, by intent type.",
		}, []string{"type"}),
		IntentsDedup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "intents_deduplicated_total",
			Help: "Intents not written because an identical one was written within the dedup window, by type.",
		}, []string{"type"}),
		EmitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "intent_write_failures_total",
			Help: "Failed intent write attempts (each retried), by reason.",
		}, []string{"reason"}),
		IntentsLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "intents_lost_total",
			Help: "Intents that were not written: refused because the emitter's queue was full while the intents directory failed (queue_full), or still queued when the emitter stopped (shutdown), by reason.",
		}, []string{"reason"}),
		IntentsQueued: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "intents_queued",
			Help: "Intents accepted by the emitter and not yet durable (grows while the intents directory fails).",
		}),
		SpoolFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "spool_write_failures_total",
			Help: "Failed event spool write attempts.",
		}),
		SpoolLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "spool_events_lost_total",
			Help: "Events the spool did not write (they still went to the rules): refused because its queue was full while the events directory failed (queue_full), or still queued when the spool stopped (shutdown), by reason.",
		}, []string{"reason"}),
		SpoolQueued: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "spool_events_queued",
			Help: "Events accepted by the spool and not yet durable (grows while the events directory fails).",
		}),
		Pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "pruned_files_total",
			Help: "Files removed by retention pruning, by kind.",
		}, []string{"kind"}),
		StartTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "start_time_seconds",
			Help: "Unix time the daemon started.",
		}),
	}
	reg.MustRegister(m.ActorRestarts, m.ActorFailures, m.ActorEscalated, m.MailboxDropped,
		m.Events, m.EventsDeduped, m.Intents, m.IntentsDedup, m.EmitFailures, m.IntentsLost, m.IntentsQueued, m.SpoolFailures, m.SpoolLost, m.SpoolQueued, m.Pruned, m.StartTime)
	return m
}
