package chembus

import (
	"errors"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// ChemBus wire format (SPEC §1.2): two frames [topic, payload], payload a
// compact JSON object {"signal","ecosystem","intensity","facts",
// "incident_id","trace","ts","schema_version":1}.

const maxZooidBytes = 256

// EncodeSignal writes a signal as Python peers do, keys in SPEC order and
// floats as floats.
func EncodeSignal(s *messages.Signal) ([]byte, error) {
	facts := s.Facts
	if facts == nil {
		facts = map[string]any{}
	}
	var inc, trace any
	if s.IncidentID != nil {
		inc = *s.IncidentID
	}
	if s.Trace != nil {
		trace = *s.Trace
	}
	return intentfile.MarshalCompact(messages.Object{
		{Key: "signal", Value: s.Signal}, {Key: "ecosystem", Value: s.Ecosystem},
		{Key: "intensity", Value: s.Intensity}, {Key: "facts", Value: facts},
		{Key: "incident_id", Value: inc}, {Key: "trace", Value: trace},
		{Key: "ts", Value: s.TS}, {Key: "schema_version", Value: 1},
	})
}

// decoded is the outcome of checking one raw message.
type decoded struct {
	hb     *messages.HeartbeatReceived
	kill   *messages.KillReceived
	reason string // why it was dropped ("" when valid)
	topic  string
}

// decodeFrames validates one message ([topic, payload]) received at.
func decodeFrames(frames [][]byte, maxBytes int, at time.Time) decoded {
	if len(frames) != 2 {
		return decoded{reason: "frame_count"}
	}
	topic, payload := frames[0], frames[1]
	if len(topic) > 256 || len(payload) > maxBytes {
		return decoded{reason: "oversize"}
	}
	var t string
	switch string(topic) { // no allocation for the known topics
	case messages.TopicHeartbeat:
		t = messages.TopicHeartbeat
	case messages.TopicKill:
		t = messages.TopicKill
	default:
		return decoded{reason: "unexpected_topic"}
	}
	if !utf8.Valid(payload) {
		return decoded{reason: "invalid_utf8", topic: t}
	}
	f, notObject, err := scanPayload(payload)
	switch {
	case notObject:
		return decoded{reason: "not_object", topic: t}
	case errors.Is(err, errTooDeep):
		return decoded{reason: "too_deep", topic: t}
	case err != nil:
		return decoded{reason: "invalid_json", topic: t}
	case f.hasSignal && f.signal != t:
		return decoded{reason: "topic_mismatch", topic: t}
	}
	if t == messages.TopicKill {
		var facts map[string]any
		if v, err := intentfile.Parse(payload); err == nil {
			if o, ok := v.(messages.Object); ok {
				if fo, ok := o.Get("facts"); ok {
					if fobj, ok := fo.(messages.Object); ok {
						facts = make(map[string]any, len(fobj))
						for _, kv := range fobj {
							facts[kv.Key] = kv.Value
						}
					}
				}
			}
		}
		return decoded{kill: &messages.KillReceived{Facts: facts, At: at}, topic: t}
	}
	switch {
	case !f.factsSeen || f.factsNotObject:
		return decoded{reason: "facts_not_object", topic: t}
	case f.zooidKind != 's' || f.zooid == "" || len(f.zooid) > maxZooidBytes || !printable(f.zooid):
		return decoded{reason: "bad_zooid", topic: t}
	case (f.nicheKind != 0 && f.nicheKind != 's' && f.nicheKind != 'l') || len(f.niche) > maxZooidBytes:
		return decoded{reason: "bad_niche", topic: t}
	case f.uptimeBad || f.processedBad || f.tsBad || math.IsInf(f.uptime, 0) || math.IsInf(f.ts, 0) ||
		(f.hasCount && (f.processed < 0 || f.processed > 1<<53 || f.processed != math.Trunc(f.processed))):
		return decoded{reason: "bad_number", topic: t}
	case f.incidentBad:
		return decoded{reason: "bad_incident_id", topic: t}
	}
	return decoded{hb: &messages.HeartbeatReceived{Zooid: f.zooid, Niche: f.niche, UptimeS: f.uptime,
		ProcessedCount: int64(f.processed), IncidentID: f.incident, SentTS: f.ts, At: at}, topic: t}
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
