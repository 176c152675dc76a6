package messages

import "time"

// KV is one member of an ordered JSON object.
type KV struct {
	Key   string
	Value any
}

// Object is a JSON object whose members keep their order, as a Python dict
// does. Intent data is an Object so that the bytes written (and hashed) are
// the same every time. Values may be: nil, bool, string, int, int64, uint64,
// float64, json.Number, []any, Object, or map[string]any (written with sorted
// keys).
type Object []KV

// Get returns the value stored under key and whether it was present.
func (o Object) Get(key string) (any, bool) {
	for _, kv := range o {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Intent is an action proposed to the orchestrator (SPEC §1.1).
type Intent struct {
	Type        string
	Priority    int
	Reason      string
	Data        Object
	GeneratedAt time.Time
}

// EmitIntent asks the emitter to write an intent into the orchestrator's
// queue directory.
//
// Sent by: rule actors. Received by: the emitter. If ReplyTo is set, the
// emitter answers IntentWritten (once the file and its directory entry are
// durable) or IntentDropped (duplicate within the dedup window).
type EmitIntent struct {
	Intent  Intent
	ReplyTo any // *actor.PID; any so that tests can leave it nil cheaply
}

// IntentWritten reports that an intent file is durable on disk.
//
// Sent by: the emitter. Received by: the EmitIntent's ReplyTo.
type IntentWritten struct {
	Path string
	Type string
}

// IntentDropped reports that an intent was not written, and why.
//
// Sent by: the emitter. Received by: the EmitIntent's ReplyTo.
type IntentDropped struct {
	Type   string
	Reason string // "duplicate"
}
