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
package emit
