// Package fswatch is the file-watch source: Source (New) watches paths with
// inotify (fsnotify) — promotions, PHASE signals, the D-REAM ready file — and
// sends *messages.Event to the dispatcher. Paths that do not exist yet are
// covered from their nearest existing parent. It owns the fsnotify watcher
// and the goroutine reading it, released on Stopping and Restarting.
//
// The events it produces keep the source name "inotify", which SPEC §2.1
// and the spool's file names use; everywhere else the concept is "fswatch"
// (package, config section, metrics).
package fswatch
