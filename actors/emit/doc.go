// Package emit writes files for the orchestrator and the operator:
//   - Emitter (NewEmitter): receives *messages.EmitIntent from rules, encodes
//     (actors/intentfile), deduplicates within an hour (across restarts:
//     dedup.go checkpoints it and counts the intents on disk at start) and
//     writes each intent
//     atomically into the queue directory (SPEC §1.1); publishes
//     *messages.IntentObserved; moves intents past their age into the
//     intent archive (actors/archive), or its quarantine if they fail
//     verification; nothing is deleted.
//   - Spool (NewSpool): subscribes to the observation stream's events and
//     writes every event a source produced, before dedup, to the events
//     directory (SPEC §3); answers Flush barriers once what came before is
//     durable.
//
// Both own one writer goroutine (writer.go: group commit — fsync each file,
// rename, one directory fsync per batch — with capped backoff on failure),
// drained within a bound on Stopping and Restarting. The emitter's writer
// reports into a Health (health.go) that /readyz reads: not ready while
// writes fail and intents wait. MaxQueued bounds every file accepted and not
// yet durable, wherever it waits.
//
// Failure handling. Each intent is written as
// .tmp, fsynced, renamed and the directory fsynced; bursts share one directory
// fsync (group commit) and a requester hears "written" only once its file is
// durable. A failing directory (deleted, replaced by a file, full) is retried
// with capped backoff (retry_initial to retry_max), in order, and counted
// (kloros_observer_intent_write_failures_total{reason}); no half-written .json
// appears. Meanwhile the emitter keeps answering (watchdog probe, Flush,
// stop): intents wait in memory, in order (kloros_observer_intents_queued), up
// to max_queued (100,000); past it new intents are refused, logged and counted
// (kloros_observer_intents_lost_total{reason="queue_full"}). Intents still
// unwritten when the shutdown timeout ends are logged with their count and
// types and counted (reason="shutdown"). Identical intents (type, reason,
// priority, data) within dedup_window (1 h) are written once, across restarts
// (dedup.go: checkpointed, and the queue directory counted as seen at start);
// stale .tmp files
// are removed at start; names that do not parse are left alone and logged
// once.
//
// The spool (--spool-events) writes every event a source produced (before
// dedup) to <state_dir>/events/{ts_ms}_{source}_{type}_{seq}.json as
// {"source","type","ts","data"} (seq keeps names unique within a millisecond),
// pruned after 7 days; journal events are named from their cursor, so an
// entry re-read after a crash is spooled once. It shares the emitter's writer
// and its failure handling (kloros_observer_spool_write_failures_total,
// …_spool_events_queued, …_spool_events_lost_total{reason}); past
// spool.max_queued new events are not spooled (the rules still get them). A
// Flush barrier — the journald cursor checkpoint waits for it — is answered
// only once every event the spool accepted before it is durable; an event
// refused as over the bound is not waited for, so a checkpoint can pass it.
package emit
