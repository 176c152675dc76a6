package messages

import "github.com/asynkron/protoactor-go/actor"

// Flush is a barrier that travels the pipeline behind the events sent before
// it. A source that must know when its events are durable (the journald
// source checkpoints its cursor only then) sends Flush to the dispatcher after
// those events.
//
// Sent by: a source to the dispatcher; the dispatcher sends one Flush to the
// spool (when spooling) and to every rule; every rule forwards it to the
// emitter after the intents caused by earlier events. Received by: dispatcher,
// spool, rules, emitter.
//
// The last receiver on each path (spool, emitter) replies Flushed{ID} to
// ReplyTo once everything it received before the Flush is durable. The
// dispatcher collects those replies and answers the source with one
// Flushed{ID} when every path has answered.
type Flush struct {
	ID      uint64
	ReplyTo *actor.PID
}

// Flushed answers a Flush: everything sent before Flush{ID} is durable.
//
// Sent by: spool and emitter (to the dispatcher), dispatcher (to the source).
type Flushed struct {
	ID uint64
}

// Undroppable tells bounded mailboxes never to drop a Flush.
func (*Flush) Undroppable() {}
