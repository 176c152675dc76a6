package messages

import "time"

// Signal is the ChemBus payload (SPEC §1.2), serialized as compact JSON with
// the keys in this order. IncidentID and Trace are null when empty.
type Signal struct {
	Signal        string         `json:"signal"`
	Ecosystem     string         `json:"ecosystem"`
	Intensity     float64        `json:"intensity"`
	Facts         map[string]any `json:"facts"`
	IncidentID    *string        `json:"incident_id"`
	Trace         *string        `json:"trace"`
	TS            float64        `json:"ts"`
	SchemaVersion int            `json:"schema_version"`
}

// Publish asks the ChemBus actor to send a signal as the two frames
// [topic, payload].
//
// Sent by: the zooid registry and watchers (CAPABILITY_GAP, recovery), the
// ChemBus actor's own heartbeat timer. Received by: the ChemBus actor.
type Publish struct {
	Topic  string
	Signal Signal
}

// HeartbeatReceived is one valid HEARTBEAT taken off ChemBus.
//
// Sent by: the ChemBus actor. Received by: the zooid registry, which forwards
// it to the zooid's watcher (spawning one for a new zooid).
type HeartbeatReceived struct {
	Zooid          string
	Niche          string
	UptimeS        float64 // not trusted as an uptime: producers send wall-clock time
	ProcessedCount int64
	IncidentID     string    // "" when null
	SentTS         float64   // the payload's ts (sender's clock)
	At             time.Time // when we received it (our clock, with monotonic reading)
}

// KillReceived reports governance.kill on ChemBus.
//
// Sent by: the ChemBus actor. Received by: the zooid registry (and, with
// on_kill=exit, the ChemBus actor ends the daemon itself).
type KillReceived struct {
	Facts map[string]any
	At    time.Time
}
