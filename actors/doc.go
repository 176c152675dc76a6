// Package actors holds what every actor package shares, and nothing else:
// Deps (logger, metrics, clock, observation stream), failure reporting
// (ConfigError, GoroutineFailed, Recover) and small helpers (Unhandled).
//
// Each subsystem is its own package below, so the compiler, not a file
// prefix, keeps its boundary; each has a doc.go naming its actors, what they
// receive and send, and what they own:
//
//	chembus/       the ChemBus (UMN) actor, embedded proxy, wire format, payload scanner, watermark
//	chembus/zmtp/  the ZMTP 3.0 SUB-side reader (Linux)
//	heartbeat/     zooid registry, one watcher per zooid, shared deadlines, lag probe, checkpoint
//	journald/      the journald source and the journal line classifier
//	fswatch/       the file-watch (inotify) source
//	scrape/        the Prometheus scrape source and its checks
//	dispatch/      the dispatcher: counts, deduplicates, publishes and routes events
//	emit/          the emitter (intent files), the spool (event files) and their shared writer
//	rules/         the rules engine (kinds, expr-lang expressions, templates), the rules manager and one actor per rule
//	deadletter/    the intent router's dead-letter file source
//	systemdaudit/  the daily audit of disabled units over D-Bus
//	archive/       the intent archive and quarantine (not an actor: the emitter and intentctl call it)
//	web/           the HTTP server: the dashboard, /api/v1, the live stream, /metrics, /healthz, /readyz
//	housekeeping/  the periodic stats line
//	observe/       the observation stream every output subscribes to
//	intentfile/    the intent file format (Python-compatible bytes, verify)
//	config/        YAML decoding with key paths and lines, and the Checker every Validate uses
//	clock/, timer/, telemetry/, logbuf/, actortest/: time, the tick grid, metrics, test helpers
//
// The shape of every actor: Receive is a type switch with lifecycle first;
// *actor.Started acquires resources; both *actor.Stopping and
// *actor.Restarting release them. No blocking I/O runs in Receive: a blocking
// reader runs in one goroutine the actor owns (started on Started, released
// with cancel(); <-done), which only sends messages to the actor and recovers
// its own panics, reporting them to the actor as a failure.
//
// Imports go one way: messages ← actors ← supervision ← cmd.
package actors
