package messages

import "time"

// The observation stream's payloads. Producers hand them to the stream
// (actors/observe.Stream.Publish); subscribers — the spool, the dashboard's
// live feed and rings, `kloros-observer tap` — receive them unchanged, as
// messages when they are actors or from a channel otherwise. A payload is
// never mutated after it is published. Each type's kind (observe.KindOf)
// follows from its Go type.

// ObservedEvent is one event as the dispatcher saw it.
type ObservedEvent struct {
	Event *Event
	// Duplicate is the dedup verdict: true when the event's key was seen
	// within the dedup window (the rules did not get it).
	Duplicate bool
}

// EventsObserved is published by the dispatcher for every event or batch it
// receives, before routing (kind "event"). The spool subscribes to it.
type EventsObserved struct {
	At     time.Time
	Events []ObservedEvent
}

// Intent outcomes of IntentObserved.
const (
	IntentOutcomeWritten      = "written"
	IntentOutcomeDeduplicated = "deduplicated"
	IntentOutcomeFailed       = "failed"
)

// IntentObserved is published by the emitter when an intent is written,
// deduplicated or refused (kind "intent").
type IntentObserved struct {
	At       time.Time
	Outcome  string // IntentOutcome*
	Type     string
	Priority int
	Reason   string
	// Path is the final file (written only).
	Path string
	// Why says why an intent was refused (failed only): "invalid: …",
	// "queue full".
	Why string
}

// RuleFired is published by a rule actor for every intent it proposes (kind
// "rule").
type RuleFired struct {
	At         time.Time
	Rule       string
	IntentType string
	Priority   int
	Reason     string
}

// Gap changes of GapObserved.
const (
	GapOpened   = "opened"
	GapRepeated = "repeated"
	GapClosed   = "closed"
)

// GapObserved is published by the zooid registry when a zooid's outage
// episode opens, is reported again, or closes (kind "gap").
type GapObserved struct {
	At         time.Time
	Change     string // Gap*
	Zooid      string
	Niche      string
	IncidentID string
	LastSeen   time.Time
	// Missing is how long the zooid had been silent at At.
	Missing time.Duration
	// Published says whether a CAPABILITY_GAP went onto the bus (false when
	// silenced or the bus refused it).
	Published bool
}

// Zooid changes of ZooidObserved.
const (
	ZooidFirstSeen = "first_seen"
	ZooidForgotten = "forgotten"
)

// ZooidObserved is published by the zooid registry when it learns of a zooid
// or forgets one (kind "zooid").
type ZooidObserved struct {
	At     time.Time
	Change string // Zooid*
	Zooid  string
	Niche  string
}

// Actor changes of ActorObserved.
const (
	ActorFailed    = "failed"
	ActorRestarted = "restarted"
	ActorStopped   = "stopped"
	ActorEscalated = "escalated"
)

// ActorObserved is published by the supervision tree's strategy when an
// actor fails and what it decided (kind "actor").
type ActorObserved struct {
	At     time.Time
	Change string // Actor*
	Actor  string // path below the root, e.g. "sources/journald"
	Reason string
}

// SourceObserved is published by a source when its health changes: the
// journal opened or lost, a scrape endpoint up or down, ChemBus connected or
// not (kind "source").
type SourceObserved struct {
	At      time.Time
	Source  string // "journald", "fswatch", "scrape", "chembus", ...
	Target  string // the endpoint, path or journal it concerns
	Healthy bool
	Detail  string
}
