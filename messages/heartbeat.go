package messages

import "time"

// ZooidWentSilent reports that a zooid's deadline passed with no heartbeat:
// an outage episode opened.
//
// Sent by: a heartbeat watcher, after it published the CAPABILITY_GAP itself
// (watchers publish in parallel, so thousands of zooids expiring together are
// not serialized behind one actor). Received by: the zooid registry, which
// records the episode, schedules repeats and checkpoints.
type ZooidWentSilent struct {
	Zooid      string
	Missing    time.Duration
	IncidentID string
	// Published reports that the watcher already published the episode's
	// CAPABILITY_GAP (false while governance.kill has paused publishing).
	Published bool
}

// ZooidRecovered reports that a silent zooid beat again: its episode closed.
//
// Sent by: a heartbeat watcher. Received by: the zooid registry.
type ZooidRecovered struct {
	Zooid string
	At    time.Time // when the beat that ended the silence arrived
}
