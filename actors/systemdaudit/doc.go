// Package systemdaudit audits the host's unit files over D-Bus, as the
// colony's observer does once a day (SPEC §1.4): every disabled service and
// timer, minus the system ones (exclusions), gives one systemd_disabled
// event, at most one a second.
//
// Actor: Source (sources/systemd_audit). It owns two goroutines, started on
// Started and released (cancel; wait) on both Stopping and Restarting:
//
//   - the auditor, which owns the D-Bus connection
//     (github.com/coreos/go-systemd/v22/dbus; no systemctl subprocess). When
//     an audit is due it calls org.freedesktop.systemd1.Manager
//     ListUnitFilesByPatterns(states, patterns) — the only call made — and
//     sends the actor the unit files found. No bus (a container, CI) or a
//     failed call is counted (kloros_observer_systemd_audit_bus_errors_total),
//     logged once per outage, and retried with capped backoff; never a
//     crash.
//   - the state writer, which writes the state file atomically.
//
// The actor keeps which units it has reported, sends one
// *messages.Event{Type: "systemd_disabled"} per unit not yet reported,
// paced by its timer, each followed by a *messages.Flush; a unit counts as
// reported once the dispatcher answers *messages.Flushed (the event spooled,
// its intents written). A unit that is no longer disabled is forgotten, so
// disabling it again is a new case. The state file
// (<state_dir>/systemd_audit/state.json: the reported units and when the
// last audit finished) makes a restart neither re-audit before the
// interval has passed nor report a unit again.
//
// Receives: the auditor's results and bus errors, its pacing timer,
// Flushed. Sends: *messages.Event and *messages.Flush to the dispatcher.
//
// Its metrics (kloros_observer_systemd_audit_*) are registered by New on
// the daemon's registry, here rather than in actors/telemetry, so that the
// source is its folder, one wiring line and its config section.
//
// Other metrics: kloros_observer_systemd_audit_audits_total, …_events_total,
// …_disabled_units, …_next_audit_timestamp_seconds. The retry backoff runs
// from retry_initial (1 s) to retry_max (5 min).
package systemdaudit
