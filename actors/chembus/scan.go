package chembus

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass JSON scanner for ChemBus payloads: it validates the whole
// document (as encoding/json would) but only materializes the fields the
// monitor reads, so decoding stays off the hot path's allocation budget
// (encoding/json into a struct cost 60% of ingest CPU).

var errSyntax = errors.New("invalid JSON")

// errTooDeep: arrays and objects nested deeper than maxDepth (issue 15 #8:
// facts nested 10,000 deep were accepted). Counted as reason too_deep.
var errTooDeep = errors.New("JSON nested too deep")

// maxDepth bounds nesting; a heartbeat's payload is two levels deep.
const maxDepth = 64

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) atEnd() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) expect(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// object calls field for each member; field must consume the value.
func (s *scanner) object(depth int, field func(key string) error) error {
	if depth > maxDepth {
		return errTooDeep
	}
	if !s.expect('{') {
		return errSyntax
	}
	if s.expect('}') {
		return nil
	}
	for {
		if s.peek() != '"' {
			return errSyntax
		}
		k, err := s.str()
		if err != nil {
			return err
		}
		if !s.expect(':') {
			return errSyntax
		}
		if err := field(k); err != nil {
			return err
		}
		if s.expect(',') {
			continue
		}
		if s.expect('}') {
			return nil
		}
		return errSyntax
	}
}

// skip validates and passes over any value.
func (s *scanner) skip(depth int) error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth+1, func(string) error { return s.skip(depth + 1) })
	case c == '[':
		if depth+1 > maxDepth {
			return errTooDeep
		}
		s.i++
		if s.expect(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.expect(',') {
				continue
			}
			if s.expect(']') {
				return nil
			}
			return errSyntax
		}
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.num()
		return err
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
				s.i += len(lit)
				return nil
			}
		}
		return errSyntax
	}
}

// kind reports the type of the next value: 's'tring, 'n'umber, 'l' null, 'o'ther.
func (s *scanner) kind() byte {
	switch c := s.peek(); {
	case c == '"':
		return 's'
	case c == '-' || (c >= '0' && c <= '9'):
		return 'n'
	case c == 'n':
		return 'l'
	}
	return 'o'
}

func (s *scanner) str() (string, error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		case c == '\\':
			return s.strSlow(start)
		case c < 0x20:
			return "", errSyntax
		}
		s.i++
	}
	return "", errSyntax
}

func (s *scanner) strSlow(start int) (string, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", errSyntax
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", errSyntax
			}
			if utf16.IsSurrogate(r) && s.i+6 <= len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
				s.i += 2
				r2, ok := s.hex4()
				if !ok {
					return "", errSyntax
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	s.i += 4
	return rune(n), err == nil
}

func (s *scanner) num() (float64, error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	d0 := s.i
	if digits() == 0 || (s.b[d0] == '0' && s.i-d0 > 1) {
		return 0, errSyntax
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return 0, errSyntax
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return 0, errSyntax
		}
	}
	v, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, errSyntax
	}
	return v, nil // out of range is valid JSON: ±Inf, refused by the caller where it matters
}

// payloadFields is what the monitor reads from a payload.
type payloadFields struct {
	signal, incident           string
	hasSignal                  bool
	incidentBad, factsSeen     bool
	factsNotObject             bool
	zooid, niche               string
	zooidKind, nicheKind       byte // 0 when absent
	uptime, processed, ts      float64
	uptimeBad, processedBad    bool
	tsBad, hasUptime, hasCount bool
}

// scanPayload validates b as one JSON object and extracts the fields.
// notObject reports a valid JSON value that is not an object.
func scanPayload(b []byte) (f payloadFields, notObject bool, err error) {
	s := &scanner{b: b}
	if s.peek() != '{' {
		err := s.skip(0)
		if err == nil && s.atEnd() {
			return f, true, nil
		}
		if err == nil {
			err = errSyntax
		}
		return f, false, err
	}
	err = s.object(0, func(k string) error {
		switch k {
		// A key given twice takes its last value, as Python's json.loads
		// does (so we and the colony agree on which zooid a message is):
		// every case below sets or clears everything it decides.
		case "signal":
			f.signal, f.hasSignal = "", false
			if s.kind() == 's' {
				v, err := s.str()
				f.signal, f.hasSignal = v, true
				return err
			}
		case "incident_id":
			f.incident, f.incidentBad = "", false
			switch s.kind() {
			case 's':
				v, err := s.str()
				f.incident = v
				return err
			case 'l':
			default:
				f.incidentBad = true
			}
		case "ts":
			f.ts, f.tsBad = 0, false
			if s.kind() == 'n' {
				v, err := s.num()
				f.ts = v
				return err
			}
			f.tsBad = s.kind() != 'l'
		case "facts":
			f.factsSeen, f.factsNotObject = true, false
			f.zooid, f.niche, f.zooidKind, f.nicheKind = "", "", 0, 0
			f.uptime, f.processed, f.uptimeBad, f.processedBad, f.hasUptime, f.hasCount = 0, 0, false, false, false, false
			if s.peek() != '{' {
				f.factsNotObject = true
				break
			}
			return s.object(1, func(k string) error {
				switch k {
				case "zooid", "niche":
					kind := s.kind()
					if k == "zooid" {
						f.zooid, f.zooidKind = "", kind
					} else {
						f.niche, f.nicheKind = "", kind
					}
					if kind == 's' {
						v, err := s.str()
						if k == "zooid" {
							f.zooid = v
						} else {
							f.niche = v
						}
						return err
					}
				case "uptime_s", "processed_count":
					kind := s.kind()
					if k == "uptime_s" {
						f.uptime, f.hasUptime, f.uptimeBad = 0, false, false
					} else {
						f.processed, f.hasCount, f.processedBad = 0, false, false
					}
					if kind == 'n' {
						v, err := s.num()
						if k == "uptime_s" {
							f.uptime, f.hasUptime = v, true
						} else {
							f.processed, f.hasCount = v, true
						}
						return err
					}
					if kind != 'l' {
						if k == "uptime_s" {
							f.uptimeBad = true
						} else {
							f.processedBad = true
						}
					}
				}
				return s.skip(1)
			})
		}
		return s.skip(0)
	})
	if err == nil && !s.atEnd() {
		err = errSyntax // trailing data
	}
	return f, false, err
}
