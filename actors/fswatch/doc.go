// Package fswatch is the file-watch source: Source (New) watches paths with
// inotify (fsnotify) — promotions, PHASE signals, the D-REAM ready file — and
// sends *messages.Event to the dispatcher. Paths that do not exist yet are
// covered from their nearest existing parent. It owns the fsnotify watcher
// and the goroutine reading it, released on Stopping and Restarting.
//
// The events it produces keep the source name "inotify", which SPEC §2.1
// and the spool's file names use; everywhere else the concept is "fswatch"
// (package, config section, metrics).
//
// A watch path that does not exist yet is covered by a watch on its nearest
// existing parent and picked up when it appears (mkdir -p included; files
// already in a directory that appeared are reported once); a watched
// directory deleted and re-created is watched again. No polling.
// Classification (SPEC §2.1): a *.json created in (or renamed into) a
// promotions directory is promotion_new; a name containing phase_complete
// created in a signals directory is phase_signal; a file named ready under a
// path containing dream created, written or touched is dream_heartbeat.
package fswatch
