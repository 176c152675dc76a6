// Package config reads kloros-observer's YAML settings the way an operator
// needs them read: every problem at once, each naming the YAML key path, the
// line of that key and the value, in YAML terms; a misspelt key gets the
// closest valid one suggested; durations are a Go duration ("30s", "1m30s")
// or plain seconds (30, 0.5) everywhere.
//
// It does not know the daemon's sections. Each component owns its settings
// type (YAML-tagged, with its Default…() and Validate(*Checker) beside it);
// supervision composes them into one document, decodes it with Decode over
// the defaults, then lets each section validate into one Checker, which
// knows the line of every key Decode saw.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a config or rule file: /dev/zero or a runaway
// generator must not exhaust memory.
const MaxFileBytes = 4 << 20

// Problem is one thing wrong with a setting.
type Problem struct {
	Path  string // YAML key path: "heartbeat.niche_thresholds.fast", "checks[2].op"
	Line  int    // line of the key (0: not from the file: a default or a flag)
	Value any    // the value given, as written
	Why   string
}

func (p *Problem) Error() string {
	loc := ""
	if p.Line > 0 {
		loc = fmt.Sprintf(" (line %d)", p.Line)
	}
	if p.Value == nil {
		return fmt.Sprintf("%s%s: %s", p.Path, loc, p.Why)
	}
	return fmt.Sprintf("%s%s = %v: %s", p.Path, loc, p.Value, p.Why)
}

// Problems is every problem found, in file order where known.
type Problems []*Problem

func (ps Problems) Error() string {
	var sb strings.Builder
	if len(ps) > 1 {
		fmt.Fprintf(&sb, "%d problems:", len(ps))
		for _, p := range ps {
			sb.WriteString("\n  ")
			sb.WriteString(p.Error())
		}
		return sb.String()
	}
	if len(ps) == 1 {
		return ps[0].Error()
	}
	return "no problems"
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Line, ps[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0 // problems with a line first, in file order
		}
		return a < b
	})
	return ps
}

// Lines maps each key path Decode saw to its line.
type Lines map[string]int

// ReadFile reads a settings file, refusing what is not a regular file or is
// larger than MaxFileBytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB; a config file is a few KiB", path, MaxFileBytes>>20)
	}
	return b, nil
}

// Decode reads YAML data over out (a pointer to a struct holding the
// defaults). Keys not in the struct's yaml tags, values of the wrong type and
// YAML syntax errors are all reported, each with its key path and line; what
// could be decoded is decoded. Keys absent from data keep their defaults.
func Decode(data []byte, out any) (Lines, Problems) {
	lines := Lines{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return lines, Problems{{Path: "(file)", Line: syntaxLine(err), Why: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return lines, nil // empty file: defaults
	}
	d := &decoder{lines: lines}
	d.value(doc.Content[0], reflect.ValueOf(out).Elem(), "")
	return lines, d.problems
}

// DecodeNode is Decode for a node already parsed (a rule's settings inside
// the main config), with paths under prefix.
func DecodeNode(node *yaml.Node, out any, prefix string) (Lines, Problems) {
	lines := Lines{}
	if node == nil || node.Kind == 0 {
		return lines, nil
	}
	d := &decoder{lines: lines}
	d.value(node, reflect.ValueOf(out).Elem(), prefix)
	return lines, d.problems
}

func syntaxLine(err error) int {
	// yaml.v3 says "yaml: line 3: ..." for syntax errors.
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		rest := s[i+5:]
		if j := strings.IndexByte(rest, ':'); j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

type decoder struct {
	lines    Lines
	problems Problems
}

func (d *decoder) bad(n *yaml.Node, path string, v any, why string) {
	d.problems = append(d.problems, &Problem{Path: path, Line: n.Line, Value: v, Why: why})
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

func join(prefix, key string) string {
	if prefix == "" || strings.HasPrefix(key, "[") {
		return prefix + key
	}
	return prefix + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar"
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.bad(n, path, nil, "must be a mapping of names to values, not "+kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			d.lines[p] = k.Line
			ev := reflect.New(v.Type().Elem()).Elem()
			d.value(val, ev, p)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.bad(n, path, nil, "must be a list, not "+kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, el := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = el.Line
			d.value(el, s.Index(i), p)
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.bad(n, path, nil, fmt.Sprintf("must be %s, not %s", typeWord(v.Type()), kindName(n)))
			return
		}
		tmp := reflect.New(v.Type())
		if err := n.Decode(tmp.Interface()); err != nil {
			d.bad(n, path, quote(n), "must be "+typeWord(v.Type()))
			return
		}
		v.Set(tmp.Elem())
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		what := path
		if what == "" {
			what = "the file"
		}
		d.bad(n, orFile(path), nil, fmt.Sprintf("%s must be a mapping of keys to values, not %s", what, kindName(n)))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.bad(k, p, nil, fmt.Sprintf("set twice (first on line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.bad(k, p, nil, unknownKey(k.Value, fields))
			continue
		}
		d.lines[p] = k.Line
		d.value(val, v.FieldByIndex(idx), p)
	}
}

func orFile(p string) string {
	if p == "" {
		return "(file)"
	}
	return p
}

func unknownKey(key string, fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	return UnknownKey(key, names)
}

// UnknownKey says that key is not one of names, suggesting the closest.
func UnknownKey(key string, names []string) string {
	names = slices.Sorted(slices.Values(names))
	if best := closest(key, names); best != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	return "unknown key; valid keys here: " + strings.Join(names, ", ")
}

// fieldsOf maps the yaml keys of a struct type to field indexes (inline
// structs flattened; "-" and unexported fields skipped).
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range fieldsOf(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.bad(n, path, nil, "must be a duration such as 30s or a number of seconds, not "+kindName(n))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.bad(n, path, quote(n), err.Error())
		return
	}
	v.SetInt(int64(dur))
}

// ParseDuration reads plain seconds ("30", "0.5") or a Go duration ("30s",
// "1m30s", "-1s"). It does not judge the sign: validation does.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > float64(1<<63-1)/float64(time.Second) || f < -float64(1<<63-1)/float64(time.Second) {
			return 0, errors.New("too large for a duration")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("must be a duration such as 30s, 10m, 1h30m, or a number of seconds such as 30")
	}
	return d, nil
}

func quote(n *yaml.Node) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || strings.ContainsAny(n.Value, " \t") || n.Value == "" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// closest returns the candidate nearest to s by edit distance, if it is near
// enough to be a likely misspelling.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// DurationFlag is a pflag.Value reading plain seconds or a Go duration into
// d, as the YAML does. Zero is accepted only with allowZero; negative never.
type DurationFlag struct {
	D         *time.Duration
	AllowZero bool
}

func (f DurationFlag) String() string {
	if f.D == nil {
		return ""
	}
	return f.D.String()
}

// Type implements pflag.Value.
func (f DurationFlag) Type() string { return "duration" }

// Set implements pflag.Value.
func (f DurationFlag) Set(v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want seconds (30) or a duration (30s, 1m), got %q", v)
	}
	if d < 0 || (d == 0 && !f.AllowZero) {
		if f.AllowZero {
			return fmt.Errorf("must be 0 or positive, got %q", v)
		}
		return fmt.Errorf("must be positive, got %q", v)
	}
	*f.D = d
	return nil
}
