package messages

import "time"

// ZooidWentSilent reports that a zooid's deadline passed with no heartbeat:
// an outage episode opened.
//
// Sent by: a heartbeat watcher. Received by: the zooid registry, which
// publishes CAPABILITY_GAP (unless paused by governance.kill) and checkpoints.
type ZooidWentSilent struct {
	Zooid      string
	Niche      string
	LastSeen   time.Time // wall clock of the last heartbeat
	Missing    time.Duration
	IncidentID string
	Repeat     bool // a re-notification of an open episode (--gap-repeat)
}

// ZooidRecovered reports that a silent zooid beat again: its episode closed.
//
// Sent by: a heartbeat watcher. Received by: the zooid registry.
type ZooidRecovered struct {
	Zooid      string
	Niche      string
	IncidentID string
	Silent     time.Duration
	At         time.Time
}
