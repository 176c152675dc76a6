package actors

import (
	"encoding/json"
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

const (
	TopicHeartbeat = "HEARTBEAT"
	TopicKill      = "governance.kill"
	TopicGap       = "CAPABILITY_GAP"
	maxZooidBytes  = 256
)

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

// wirePayload is the shape decoded from peers. Numbers are read as
// json.Number so a wrong type is caught, not coerced.
type wirePayload struct {
	Signal     *string         `json:"signal"`
	Ecosystem  string          `json:"ecosystem"`
	Facts      json.RawMessage `json:"facts"`
	IncidentID any             `json:"incident_id"`
	TS         any             `json:"ts"`
}

type heartbeatFacts struct {
	Zooid          any `json:"zooid"`
	Niche          any `json:"niche"`
	UptimeS        any `json:"uptime_s"`
	ProcessedCount any `json:"processed_count"`
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
	t := string(topic)
	if t != TopicHeartbeat && t != TopicKill {
		return decoded{reason: "unexpected_topic"}
	}
	if !utf8.Valid(payload) {
		return decoded{reason: "invalid_utf8", topic: t}
	}
	var p wirePayload
	if err := json.Unmarshal(payload, &p); err != nil {
		if len(payload) > 0 && payload[0] != '{' {
			return decoded{reason: "not_object", topic: t}
		}
		return decoded{reason: "invalid_json", topic: t}
	}
	if p.Signal != nil && *p.Signal != t {
		return decoded{reason: "topic_mismatch", topic: t}
	}
	if t == TopicKill {
		var facts map[string]any
		_ = json.Unmarshal(p.Facts, &facts)
		return decoded{kill: &messages.KillReceived{Facts: facts, At: at}, topic: t}
	}
	var f heartbeatFacts
	if len(p.Facts) == 0 || json.Unmarshal(p.Facts, &f) != nil {
		return decoded{reason: "facts_not_object", topic: t}
	}
	zooid, ok := f.Zooid.(string)
	if !ok || zooid == "" || len(zooid) > maxZooidBytes || !printable(zooid) {
		return decoded{reason: "bad_zooid", topic: t}
	}
	niche := ""
	if f.Niche != nil {
		if niche, ok = f.Niche.(string); !ok || len(niche) > maxZooidBytes {
			return decoded{reason: "bad_niche", topic: t}
		}
	}
	hb := &messages.HeartbeatReceived{Zooid: zooid, Niche: niche, At: at}
	if f.UptimeS != nil {
		if hb.UptimeS, ok = number(f.UptimeS); !ok {
			return decoded{reason: "bad_number", topic: t}
		}
	}
	if f.ProcessedCount != nil {
		n, ok := number(f.ProcessedCount)
		if !ok || n < 0 || n != math.Trunc(n) {
			return decoded{reason: "bad_number", topic: t}
		}
		hb.ProcessedCount = int64(n)
	}
	if p.TS != nil {
		if hb.SentTS, ok = number(p.TS); !ok {
			return decoded{reason: "bad_number", topic: t}
		}
	}
	switch v := p.IncidentID.(type) {
	case nil:
	case string:
		hb.IncidentID = v
	default:
		return decoded{reason: "bad_incident_id", topic: t}
	}
	return decoded{hb: hb, topic: t}
}

func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok && !math.IsNaN(f) && !math.IsInf(f, 0)
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
