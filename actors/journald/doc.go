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
package journald
