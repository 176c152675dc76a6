package intentfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kloros/kloros-observer/messages"
)

// Int is an integer literal of any size, kept as its decimal text (Python
// ints are unbounded).
type Int string

// Float is a float read from a file; it is written with Python's repr.
type Float float64

// Marshal returns Python's json.dumps(v, indent=2, ensure_ascii=True) of v.
// v may be nil, bool, string, any Go integer, float32/64, Float, Int,
// *big.Int, json.Number, []any, messages.Object or map[string]any (sorted
// keys, as Python dicts built from Go maps have no order of their own).
// NaN and infinities are errors: they are never written.
func Marshal(v any) ([]byte, error) {
	var sb strings.Builder
	if err := write(&sb, v, 0); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

// MarshalCompact is Python's json.dumps(v, separators=(",", ":")) with
// ensure_ascii: the ChemBus wire form. Floats keep Python's repr (1.0 stays
// 1.0), so Python peers read floats as floats.
func MarshalCompact(v any) ([]byte, error) {
	var sb strings.Builder
	if err := write(&sb, v, compact); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

func write(sb *strings.Builder, v any, depth int) error {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case string:
		writeString(sb, x)
	case int:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int8, int16, int32, int64:
		sb.WriteString(strconv.FormatInt(reflect.ValueOf(x).Int(), 10))
	case uint, uint8, uint16, uint32, uint64:
		sb.WriteString(strconv.FormatUint(reflect.ValueOf(x).Uint(), 10))
	case float64:
		s, err := PyFloat(x)
		if err != nil {
			return err
		}
		sb.WriteString(s)
	case float32:
		s, err := PyFloat(float64(x))
		if err != nil {
			return err
		}
		sb.WriteString(s)
	case Float:
		s, err := PyFloat(float64(x))
		if err != nil {
			return err
		}
		sb.WriteString(s)
	case Int:
		sb.WriteString(string(x))
	case *big.Int:
		sb.WriteString(x.String())
	case json.Number:
		lit := string(x)
		if strings.ContainsAny(lit, ".eE") {
			f, err := strconv.ParseFloat(lit, 64)
			if err != nil {
				return fmt.Errorf("number %q: %w", lit, err)
			}
			return write(sb, f, depth)
		}
		n, ok := new(big.Int).SetString(lit, 10)
		if !ok {
			return fmt.Errorf("number %q is not an integer", lit)
		}
		sb.WriteString(n.String())
	case []any:
		if len(x) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteString("[")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(",")
			}
			newline(sb, depth+1)
			if err := write(sb, e, depth+1); err != nil {
				return err
			}
		}
		newline(sb, depth)
		sb.WriteString("]")
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return write(sb, a, depth)
	case messages.Object:
		if len(x) == 0 {
			sb.WriteString("{}")
			return nil
		}
		for i := 1; i < len(x); i++ {
			for j := range i {
				if x[j].Key == x[i].Key {
					return fmt.Errorf("duplicate key %q: a Python dict cannot hold it twice", x[i].Key)
				}
			}
		}
		sb.WriteString("{")
		for i, kv := range x {
			if i > 0 {
				sb.WriteString(",")
			}
			newline(sb, depth+1)
			writeString(sb, kv.Key)
			if depth < 0 {
				sb.WriteString(":")
			} else {
				sb.WriteString(": ")
			}
			if err := write(sb, kv.Value, depth+1); err != nil {
				return fmt.Errorf("%s: %w", kv.Key, err)
			}
		}
		newline(sb, depth)
		sb.WriteString("}")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := make(messages.Object, len(keys))
		for i, k := range keys {
			o[i] = messages.KV{Key: k, Value: x[k]}
		}
		return write(sb, o, depth)
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

// compact as a depth means "no newlines or indentation at all".
const compact = -1 << 20

func newline(sb *strings.Builder, depth int) {
	if depth < 0 {
		return
	}
	sb.WriteByte('\n')
	for range depth {
		sb.WriteString("  ")
	}
}

const hexDigits = "0123456789abcdef"

// writeString writes s as Python's json with ensure_ascii does.
func writeString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				sb.WriteString(`\"`)
			case c == '\\':
				sb.WriteString(`\\`)
			case c == '\n':
				sb.WriteString(`\n`)
			case c == '\r':
				sb.WriteString(`\r`)
			case c == '\t':
				sb.WriteString(`\t`)
			case c == '\b':
				sb.WriteString(`\b`)
			case c == '\f':
				sb.WriteString(`\f`)
			case c < 0x20 || c == 0x7f:
				writeU(sb, rune(c))
			default:
				sb.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r > 0xffff {
			r -= 0x10000
			writeU(sb, 0xd800+(r>>10)&0x3ff)
			writeU(sb, 0xdc00+r&0x3ff)
			continue
		}
		writeU(sb, r)
	}
	sb.WriteByte('"')
}

func writeU(sb *strings.Builder, r rune) {
	sb.WriteString(`\u`)
	sb.WriteByte(hexDigits[(r>>12)&0xf])
	sb.WriteByte(hexDigits[(r>>8)&0xf])
	sb.WriteByte(hexDigits[(r>>4)&0xf])
	sb.WriteByte(hexDigits[r&0xf])
}

// PyFloat formats f as Python's repr(float) does: the shortest digits that
// round-trip, in fixed notation when -4 <= exponent < 16 (always with a ".")
// and as d.ddde±XX otherwise.
func PyFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v cannot be written: NaN and infinities are not JSON", f)
	}
	var buf [32]byte                                  // formatted on the stack: the result is the one allocation
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // e.g. -1.5e-07
	if exp := exponent(b); exp < -4 || exp >= 16 {
		return string(b), nil
	}
	b = strconv.AppendFloat(buf[:0], f, 'f', -1, 64)
	if bytes.IndexByte(b, '.') < 0 {
		b = append(b, '.', '0')
	}
	return string(b), nil
}

// exponent reads the exponent of AppendFloat's 'e' format ("e-07" → -7).
func exponent(b []byte) int {
	i := bytes.IndexByte(b, 'e') + 1
	neg := i < len(b) && b[i] == '-'
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		i++
	}
	n := 0
	for ; i < len(b); i++ {
		n = n*10 + int(b[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}
