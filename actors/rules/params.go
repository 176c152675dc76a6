package rules

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/types"
	"go.yaml.in/yaml/v3"
)

// A param is a setting a rule declares, with a type, a default and bounds.
// The main config's rules.<name> map may override it; nothing else can.
type param struct {
	name     string
	typ      string // int, float, duration, string, bool, priority
	def      any
	min, max *float64 // numbers; durations in seconds
	value    any
}

var paramTypes = map[string]types.Type{
	"int": types.Int, "priority": types.Int, "float": types.Float64, "duration": durationType,
	"string": types.String, "bool": types.Bool,
}

// parseParam reads `name: 3` (type from the value: int, float, bool, a
// duration like 10m, else string) or `name: {type, default, min, max}`.
func parseParam(name string, n *yaml.Node, errs *errList) *param {
	p := &param{name: name}
	var def *yaml.Node
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "type":
				p.typ = v.Value
				if _, ok := paramTypes[p.typ]; !ok {
					errs.at(v, 0, fmt.Sprintf("params.%s.type %q: want int, float, duration, string, bool or priority", name, v.Value))
					return nil
				}
			case "default":
				def = v
			case "min", "max":
				f, ok := boundOf(v)
				if !ok {
					errs.at(v, 0, fmt.Sprintf("params.%s.%s %q: want a number or a duration", name, k.Value, v.Value))
					return nil
				}
				if k.Value == "min" {
					p.min = &f
				} else {
					p.max = &f
				}
			default:
				errs.at(k, 0, fmt.Sprintf("params.%s: unknown field %q (want type, default, min, max)", name, k.Value))
			}
		}
		if def == nil {
			errs.at(n, 0, fmt.Sprintf("params.%s: no default", name))
			return nil
		}
	} else {
		def = n
	}
	if p.typ == "" {
		p.typ = inferType(def)
	}
	v, err := p.convert(yamlScalar(def))
	if err != nil {
		errs.at(def, 0, "params: "+err.Error())
		return nil
	}
	p.def, p.value = v, v
	return p
}

func boundOf(n *yaml.Node) (float64, bool) {
	var f float64
	if n.Decode(&f) == nil {
		return f, true
	}
	if d, err := time.ParseDuration(n.Value); err == nil {
		return d.Seconds(), true
	}
	return 0, false
}

func inferType(n *yaml.Node) string {
	switch n.Tag {
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	case "!!bool":
		return "bool"
	}
	if _, err := time.ParseDuration(n.Value); err == nil {
		return "duration"
	}
	return "string"
}

func yamlScalar(n *yaml.Node) any {
	var v any
	if n.Decode(&v) != nil {
		return n.Value
	}
	return v
}

// convert checks v (from YAML or the main config) against the param.
func (p *param) convert(v any) (any, error) {
	bad := func(want string) error { return &valueError{p.name, v, "must be " + want} }
	var out any
	var num float64
	switch p.typ {
	case "int", "priority":
		switch x := v.(type) {
		case int:
			out, num = x, float64(x)
		case int64:
			out, num = int(x), float64(x)
		case uint64:
			out, num = int(x), float64(x)
		case float64:
			if x != math.Trunc(x) {
				return nil, bad("an integer")
			}
			out, num = int(x), x
		default:
			return nil, bad("an integer")
		}
		if p.typ == "priority" && (num < 0 || num > 10) {
			return nil, bad("0..10")
		}
	case "float":
		f, ok := v.(float64)
		if i, isInt := v.(int); isInt {
			f, ok = float64(i), true
		}
		if !ok {
			return nil, bad("a number")
		}
		out, num = f, f
	case "duration":
		switch x := v.(type) {
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, bad("a duration (30s, 10m, 1h)")
			}
			out, num = d, d.Seconds()
			v = d
		case time.Duration:
			out, num = x, x.Seconds()
		default:
			return nil, bad("a duration (30s, 10m, 1h)")
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, bad("a string")
		}
		return s, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, bad("true or false")
		}
		return b, nil
	}
	if p.min != nil && num < *p.min {
		if p.typ == "duration" && *p.min > 0 && *p.min <= 1e-9 {
			return nil, &valueError{p.name, v, "must be a positive duration"}
		}
		return nil, &valueError{p.name, v, "must be >= " + p.bound(*p.min)}
	}
	if p.max != nil && num > *p.max {
		return nil, &valueError{p.name, v, "must be <= " + p.bound(*p.max)}
	}
	return out, nil
}

func (p *param) bound(f float64) string {
	if p.typ == "duration" {
		return time.Duration(f * float64(time.Second)).String()
	}
	return fmt.Sprint(f)
}

// ParamProblem is a main-config override that does not fit a rule's
// parameters: an unknown parameter (Unknown, with the Known ones) or a bad
// value (Why).
type ParamProblem struct {
	Rule, Param string
	Value       any
	Why         string
	Unknown     bool
	Known       []string
}

func (p *ParamProblem) Error() string {
	if p.Unknown {
		return fmt.Sprintf("rules.%s: unknown parameter %q (known: %s)", p.Rule, p.Param, strings.Join(p.Known, ", "))
	}
	return fmt.Sprintf("rules.%s: %s = %v: %s", p.Rule, p.Param, p.Value, p.Why)
}

// applyOverrides sets params from the main config's rules.<name> map.
func applyOverrides(rule string, params []*param, over map[string]any) []*ParamProblem {
	var errs []*ParamProblem
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var p *param
		for _, q := range params {
			if q.name == k {
				p = q
			}
		}
		if p == nil {
			known := make([]string, 0, len(params))
			for _, q := range params {
				known = append(known, q.name)
			}
			errs = append(errs, &ParamProblem{Rule: rule, Param: k, Value: over[k], Unknown: true, Known: known})
			continue
		}
		v, err := p.convert(over[k])
		if err != nil {
			var ve *valueError
			why := err.Error()
			shown := over[k]
			if errors.As(err, &ve) {
				why, shown = ve.why, ve.value
			}
			errs = append(errs, &ParamProblem{Rule: rule, Param: k, Value: shown, Why: why})
			continue
		}
		p.value = v
	}
	return errs
}

// valueError is a parameter value out of its type or bounds.
type valueError struct {
	name  string
	value any
	why   string
}

func (e *valueError) Error() string { return fmt.Sprintf("%s = %v: %s", e.name, e.value, e.why) }
