package web

import (
	"encoding/json"
	"math"
	"time"

	"github.com/kloros/kloros-observer/messages"
)

// The JSON forms of the observation stream's payloads, as the live stream
// (SSE), `tap` and the rings serve them. Times are RFC 3339 with
// nanoseconds; durations are seconds.

// EventJSON is one event with the dispatcher's dedup verdict.
type EventJSON struct {
	At        time.Time      `json:"at"` // when the dispatcher saw it
	TS        time.Time      `json:"ts"` // when it happened
	Source    string         `json:"source"`
	Type      string         `json:"type"`
	Duplicate bool           `json:"duplicate"`
	Data      map[string]any `json:"data,omitempty"`
}

// IntentJSON is one intent outcome.
type IntentJSON struct {
	At       time.Time `json:"at"`
	Outcome  string    `json:"outcome"`
	Type     string    `json:"type"`
	Priority int       `json:"priority"`
	Reason   string    `json:"reason,omitempty"`
	File     string    `json:"file,omitempty"` // base name in the intents dir
	Why      string    `json:"why,omitempty"`
}

// GapJSON is one gap change.
type GapJSON struct {
	At             time.Time `json:"at"`
	Change         string    `json:"change"`
	Zooid          string    `json:"zooid"`
	Niche          string    `json:"niche"`
	IncidentID     string    `json:"incident_id"`
	LastSeen       time.Time `json:"last_seen"`
	MissingSeconds float64   `json:"missing_seconds"`
	Published      bool      `json:"published"`
}

// Envelope is one observation on the wire: its kind and its payload.
type Envelope struct {
	Kind string `json:"kind"`
	Data any    `json:"data"`
}

// encode turns a payload into its wire forms: one envelope per event of an
// EventsObserved batch, one for anything else.
func encode(p any) []Envelope {
	switch m := p.(type) {
	case *messages.EventsObserved:
		out := make([]Envelope, 0, len(m.Events))
		for _, oe := range m.Events {
			out = append(out, Envelope{"event", eventJSON(m.At, oe)})
		}
		return out
	case *messages.IntentObserved:
		return []Envelope{{"intent", intentJSON(m)}}
	case *messages.GapObserved:
		return []Envelope{{"gap", GapJSON{At: m.At, Change: m.Change, Zooid: m.Zooid, Niche: m.Niche, IncidentID: m.IncidentID,
			LastSeen: m.LastSeen, MissingSeconds: m.Missing.Seconds(), Published: m.Published}}}
	case *messages.RuleFired:
		return []Envelope{{"rule", map[string]any{"at": m.At, "rule": m.Rule, "intent_type": m.IntentType,
			"priority": m.Priority, "reason": m.Reason}}}
	case *messages.ZooidObserved:
		return []Envelope{{"zooid", map[string]any{"at": m.At, "change": m.Change, "zooid": m.Zooid, "niche": m.Niche}}}
	case *messages.ActorObserved:
		return []Envelope{{"actor", map[string]any{"at": m.At, "change": m.Change, "actor": m.Actor, "reason": m.Reason}}}
	case *messages.SourceObserved:
		return []Envelope{{"source", sourceJSON(m)}}
	}
	return nil
}

func sourceJSON(m *messages.SourceObserved) map[string]any {
	return map[string]any{"at": m.At, "source": m.Source, "target": m.Target, "healthy": m.Healthy, "detail": m.Detail}
}

func eventJSON(at time.Time, oe messages.ObservedEvent) EventJSON {
	e := oe.Event
	return EventJSON{At: at, TS: e.TS, Source: e.Source, Type: e.Type, Duplicate: oe.Duplicate, Data: safeData(e.Data)}
}

func intentJSON(m *messages.IntentObserved) IntentJSON {
	return IntentJSON{At: m.At, Outcome: m.Outcome, Type: m.Type, Priority: m.Priority, Reason: m.Reason,
		File: baseName(m.Path), Why: m.Why}
}

// safeData keeps an event's data JSON-encodable: NaN and infinities become
// strings, anything json cannot encode becomes its error.
func safeData(d map[string]any) map[string]any {
	if len(d) == 0 {
		return nil
	}
	clean := true
	for _, v := range d {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			clean = false
		}
	}
	if clean {
		if _, err := json.Marshal(d); err == nil {
			return d
		}
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			out[k] = jsonFloat(f)
			continue
		}
		if _, err := json.Marshal(v); err != nil {
			out[k] = "unencodable: " + err.Error()
			continue
		}
		out[k] = v
	}
	return out
}

func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "+Inf"
	}
	return "-Inf"
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// typeOf is the type an observation's `type` filter matches: the event
// type, the intent type, or the rule's intent type.
func typeOf(e Envelope) string {
	switch d := e.Data.(type) {
	case EventJSON:
		return d.Type
	case IntentJSON:
		return d.Type
	case map[string]any:
		if s, ok := d["intent_type"].(string); ok {
			return s
		}
	}
	return ""
}
