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
// Sent by: the ChemBus actor. Received by: the zooid registry, which records
// it where the zooid's watcher reads it (spawning one for a new zooid).
type HeartbeatReceived struct {
	Zooid          string
	Niche          string
	UptimeS        float64 // not trusted as an uptime: producers send wall-clock time
	ProcessedCount int64
	IncidentID     string  // "" when null
	SentTS         float64 // the payload's ts (sender's clock)
	// At is when it arrived, on our clock with a monotonic reading. The SUB
	// side drains the socket in coalescing windows, so At is the sender's ts
	// clamped into the window in which the message must have arrived.
	At time.Time
	// Seq is its position in the ChemBus actor's stream (1, 2, ...; 0 when
	// not from a ChemBus actor); the registry reports it as applied so that
	// watchers know the pipeline has caught up (actors.BusWatermark).
	Seq uint64
}

// KillReceived reports governance.kill on ChemBus.
//
// Sent by: the ChemBus actor. Received by: the zooid registry (and, with
// on_kill=exit, the ChemBus actor ends the daemon itself).
type KillReceived struct {
	Facts map[string]any
	At    time.Time
}

// The ChemBus topics this daemon reads or writes (SPEC §1.2).
const (
	TopicHeartbeat = "HEARTBEAT"
	TopicKill      = "governance.kill"
	TopicGap       = "CAPABILITY_GAP"
)

// ProxyReadyRequest asks the ChemBus proxy actor whether it has done its
// start (bound the embedded proxy, or found one). Sent by: the ChemBus actor
// at start, before its SUB side connects. Received by: the proxy actor,
// which answers with ProxyReadyResponse.
type ProxyReadyRequest struct{}

// ProxyReadyResponse answers ProxyReadyRequest.
type ProxyReadyResponse struct {
	Embedded bool // this process runs the proxy
}
