// Package actors holds kloros-observer's actors, one per file: sources
// (source_*.go), the dispatcher, the emitter, the spool, housekeeping, the
// ChemBus actor and the heartbeat watchers. Rules live in actors/rules.
//
// The shape of every actor: Receive is a type switch with lifecycle first;
// *actor.Started acquires resources; both *actor.Stopping and
// *actor.Restarting release them. No blocking I/O runs in Receive: a blocking
// reader runs in one goroutine the actor owns (started on Started, released
// with cancel(); <-done), which only sends messages to the actor and recovers
// its own panics, reporting them to the actor as a failure.
//
// actors imports messages (never supervision).
package actors
