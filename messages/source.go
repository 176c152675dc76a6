package messages

import "time"

// Event is one observation made by a source (fswatch, journald, scrape, ...).
//
// Sent by: source actors. Received by: the dispatcher, which spools it (when
// spooling is on), deduplicates it and fans it out to the rules that
// subscribe to its Type.
type Event struct {
	// Source is the producing source: "journald", "inotify" or "metrics".
	Source string
	// Type is the classified event type, e.g. "promotion_new" (SPEC §2.1).
	Type string
	// TS is when the observed thing happened (journal entry time, file event
	// time, scrape time).
	TS time.Time
	// Data is the source-specific payload. Keys "path" and "unit" take part in
	// the dedup key; "value" carries a numeric measurement for threshold rules.
	Data map[string]any
}

// DedupKey returns source:type[:path][:unit], the key the dispatcher uses to
// drop repeats seen within its dedup window (SPEC §2.1).
func (e *Event) DedupKey() string {
	k := e.Source + ":" + e.Type
	if p, ok := e.Data["path"].(string); ok && p != "" {
		k += ":" + p
	}
	if u, ok := e.Data["unit"].(string); ok && u != "" {
		k += ":" + u
	}
	return k
}

// DedupID is DedupKey as a comparable value, built without allocating (the
// dispatcher's hot path).
type DedupID struct{ Source, Type, Path, Unit string }

// ID returns the event's DedupID.
func (e *Event) ID() DedupID {
	id := DedupID{Source: e.Source, Type: e.Type}
	id.Path, _ = e.Data["path"].(string)
	id.Unit, _ = e.Data["unit"].(string)
	return id
}

// Exempt reports whether the event bypasses dedup: operational and critical
// error events, of services and of the kernel, are never deduplicated
// (SPEC §2.1, §1.4). Nor are systemd's restarts of a unit: each is one
// restart the service_restarts rule counts, and a restart loop restarts a
// unit far more often than once per dedup window.
func (e *Event) Exempt() bool {
	switch e.Type {
	case "error_operational", "error_critical", "error_kernel_operational", "error_kernel_critical", "service_restart":
		return true
	}
	return false
}

// EventBatch carries many events in one mailbox hop, in order.
//
// Sent by: sources under load (journald catching up) and the dispatcher to
// rules. Received by: the dispatcher and rules, which treat it exactly as
// the events one by one.
type EventBatch struct {
	Events []*Event
}
