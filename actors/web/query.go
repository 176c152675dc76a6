package web

import "time"

// What the web package asks of the rest of the daemon. Each is a small
// interface so the daemon's wiring writes one adapter per subsystem and the
// tests hand in real components or small fakes. Every method must answer
// quickly and must not block on an actor's mailbox for long: the handlers
// call them per request.

// Zooid states as the API spells them.
const (
	StateAlive    = "alive"
	StateSilent   = "silent"
	StateSilenced = "silenced"
	// StateGrace is a zooid known from the registry's checkpoint that has not
	// beaten since the daemon started, still within its threshold of grace.
	StateGrace = "restored-grace"
)

// Zooid is one zooid as the heartbeat registry sees it.
type Zooid struct {
	Name  string
	Niche string
	// State is StateAlive, StateSilent or StateGrace (the web overlays
	// StateSilenced from the silences).
	State     string
	LastSeen  time.Time
	Threshold time.Duration
	// Incident is the open episode's incident id ("" when alive).
	Incident string
	// SilentSince is when the open episode was detected.
	SilentSince time.Time
}

// Zooids is the heartbeat registry.
type Zooids interface {
	// Zooids returns a snapshot of every zooid (by name if it can: then no
	// request sorts). It is called once per request (and cached briefly),
	// with up to 100,000 zooids.
	Zooids() []Zooid
	// Forget drops a zooid now: its watcher stops, no gap is published for
	// it, and it comes back as new if it beats again. ok is false for a
	// zooid the registry does not know.
	Forget(name string) (ok bool, err error)
}

// Rule is one rule and its state.
type Rule struct {
	Name       string   `json:"name"`
	IntentType string   `json:"intent_type,omitempty"`
	Priority   int      `json:"priority,omitempty"`
	On         []string `json:"on,omitempty"` // event types it takes
	// State is what the rule keeps (window counts, cooldown left, ...), as
	// the rule names it.
	State map[string]any `json:"state,omitempty"`
}

// Rules lists the rules and their state.
type Rules interface{ Rules() []Rule }

// Source is one source's health, beyond what SourceObserved tells.
type Source struct {
	Source  string         `json:"source"`
	Target  string         `json:"target"`
	Healthy bool           `json:"healthy"`
	Detail  string         `json:"detail,omitempty"`
	Extra   map[string]any `json:"extra,omitempty"` // lag, cursor age, ...
}

// Sources lists the sources' health.
type Sources interface{ Sources() []Source }

// Actor is one actor of the supervision tree.
type Actor struct {
	Path         string `json:"path"`
	Kind         string `json:"kind,omitempty"`
	Restarts     int    `json:"restarts"`
	Failures     int    `json:"failures"`
	MailboxDepth int    `json:"mailbox_depth"`
}

// Tree lists the supervision tree's actors.
type Tree interface{ Actors() []Actor }
