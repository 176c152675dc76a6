// Package journald is the journald source: Source (New) reads the journal
// natively (sdjournal, cgo), classifies each entry (classify/: SPEC §2.1 and the colony's rules of
// §1.4, kernel entries on their own)
// and sends *messages.EventBatch followed by a *messages.Flush to the
// dispatcher; it checkpoints its cursor only when the Flush is answered, so
// an entry is never lost or repeated across restarts. It owns one reader
// goroutine (the journal handle is not shareable) and a timer, both
// released on Stopping and Restarting. One Source runs per journal input
// (the units; systemd's own messages about the units, from init.scope with
// UNIT= or a user manager with USER_UNIT=, classified by classify.Manager;
// the kernel transport).
//
// Never lose, never repeat. The cursor is
// checkpointed to <state_dir>/journald/<source>.cursor (atomically) only after
// a barrier sent behind the entries' events comes back from the dispatcher —
// once every event before it is spooled and every intent it caused is
// written. A quiet, filtered source still checkpoints the last cursor it read
// every checkpoint_interval (30 s), so a restart does not re-read hours of
// unmatched entries. On start a source seeks to its checkpoint and skips that
// entry; with none it starts at the tail of the system journal, the head of a
// journal directory (dir), or since (RFC 3339), and logs which. A checkpoint
// that was vacuumed away falls back to the oldest entry and logs how many
// entries may have been missed. Tested: kill -9 while 10,000 entries are
// written, restart, every entry in the spool exactly once. A journal that is
// absent or unreadable is retried with backoff and counted, never a crash
// loop.
//
// Binary MESSAGEs are made valid UTF-8; messages over max_message_bytes
// (64 KiB) are truncated with a "…[truncated N bytes]" marker and counted.
//
// Metrics: kloros_observer_journal_entries_read_total, …_journal_events_total,
// …_journal_message_bytes_total, …_journal_messages_truncated_total,
// …_journal_errors_total{kind}, …_journal_last_entry_age_seconds (lag),
// …_journal_checkpoints_total, …_journal_entries_possibly_missed_total.
package journald
