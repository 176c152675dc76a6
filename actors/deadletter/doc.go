// Package deadletter follows the colony intent router's dead-letter file
// (SPEC §1.4): the router appends one JSON line, with an "error" field, for
// every signal it could not deliver, to ~/.kloros/failed_signals.jsonl.
//
// Actor: Source (sources/deadletter). It owns two goroutines, started on
// Started and released (cancel; wait) on both Stopping and Restarting:
//
//   - the follower, which owns an fsnotify watch on the file's directory (so
//     creation, rotation and removal are seen; no polling) and the open
//     file. On each change it reads the complete lines added since its
//     offset and sends the actor one observation: how many, the last
//     "error", and the position (device, inode, offset) reached. A partial
//     last line is left for the next check (its newline has not been
//     written yet). A file truncated in place is read again from the start;
//     a file replaced under the name (rotation) is read through the
//     descriptor still open until the new file under the name has data
//     (a writer holding the old one open may still append to it), and the
//     new file from its start.
//   - the checkpoint writer, which writes the position atomically
//     (intentfile.CommitBatch) to <state_dir>/deadletter/position.json.
//
// The actor sends, for an observation with lines, one error_critical
// *messages.Event (unit kloros-intent-router.service, data count and
// last_error) to the dispatcher, then a *messages.Flush; only when the
// dispatcher answers *messages.Flushed — the event spooled and its intents
// written — is the position checkpointed. A restart resumes at the
// checkpointed position: it neither repeats lines already reported nor
// misses lines added while the daemon was down (those are reported as new).
// With no checkpoint at all (the first run), the lines already in the file
// give one event, "N historical dead letters".
//
// Receives: its follower's observations and failures, Flushed. Sends:
// *messages.Event and *messages.Flush to the dispatcher.
//
// Its metrics (kloros_observer_deadletter_*) are registered by New on the
// daemon's registry, here rather than in actors/telemetry, so that the
// source is its folder, one wiring line and its config section.
//
// Metrics: kloros_observer_deadletter_lines_total, …_events_total,
// …_unparsed_lines_total, …_resets_total{kind=truncated|rotated},
// …_checkpoints_total, …_errors_total{kind}.
package deadletter
