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

// ForgetZooidRequest asks the registry to forget a zooid now: its watcher
// stops, an open episode is dropped without a gap, and it comes back as new if
// it beats again.
//
// Sent by: the web API (an operator's "forget this zooid"), as a request
// future. Received by: the zooid registry, which answers ForgetZooidResponse.
type ForgetZooidRequest struct {
	Zooid string
}

// ForgetZooidResponse answers ForgetZooidRequest; Known is false for a zooid
// the registry did not know.
//
// Sent by: the zooid registry. Received by: the requester.
type ForgetZooidResponse struct {
	Zooid string
	Known bool
}
