package rules

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/types"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

// tmpl is a compiled template string. "{{ expr }}" alone is the
// expression's value with its type (a number stays a number); text with
// "{{ }}" inside is a string, each value formatted by text(); text without
// is a literal.
type tmpl struct {
	lit   any
	whole *program
	parts []tmplPart
}

type tmplPart struct {
	lit string
	p   *program
}

// compileTemplate compiles s, found at node, against env.
func compileTemplate(s string, node *yaml.Node, env types.Map, errs *errList) *tmpl {
	if !strings.Contains(s, "{{") {
		return &tmpl{lit: s}
	}
	t := &tmpl{}
	rest, off := s, 0
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			errs.at(node, off+i, "unclosed {{ in template")
			return nil
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		src := rest[i+2 : i+j]
		if strings.TrimSpace(src) == "" {
			errs.at(node, off+i, "empty {{ }} in template")
			return nil
		}
		// compiled later, with the intent's other pieces, as one program
		t.parts = append(t.parts, tmplPart{p: &program{src: src, slot: -1, node: node, off: off + i + 2}})
		off += i + j + 2
		rest = rest[i+j+2:]
	}
	if len(t.parts) == 1 && t.parts[0].p != nil {
		t.whole, t.parts = t.parts[0].p, nil
	}
	return t
}

func (t *tmpl) eval(r *runner) (any, error) {
	if t.whole != nil {
		return r.run(t.whole)
	}
	if t.parts == nil {
		return t.lit, nil
	}
	return t.join(r)
}

// text is text(eval) without boxing a joined text.
func (t *tmpl) text(r *runner) (string, error) {
	if t.whole != nil || t.parts == nil {
		v, err := t.eval(r)
		return text(v), err
	}
	return t.join(r)
}

// join writes a text with parts.
func (t *tmpl) join(r *runner) (string, error) {
	var b []byte // the runner's buffer: the string is the one allocation
	if r != nil {
		b = r.buf[:0]
	}
	for _, p := range t.parts {
		if p.p == nil {
			b = append(b, p.lit...)
			continue
		}
		v, err := r.run(p.p)
		if err != nil {
			return "", err
		}
		b = append(b, text(v)...)
	}
	if r != nil {
		r.buf = b
	}
	return string(b), nil
}

func (t *tmpl) programs() []*program {
	var out []*program
	if t.whole != nil {
		out = append(out, t.whole)
	}
	for _, p := range t.parts {
		if p.p != nil {
			out = append(out, p.p)
		}
	}
	return out
}

// valueTmpl is a compiled data tree: YAML mappings become ordered objects
// (a key ending in "?" is left out when its value is null or ""), sequences
// lists, strings templates, other scalars literals.
type valueTmpl struct {
	konst   any // the whole subtree when it holds no expression (shared: intents are never mutated)
	isKonst bool
	scalar  *tmpl
	keys    []string
	omit    []bool
	vals    []*valueTmpl
	items   []*valueTmpl
	isMap   bool
	isSeq   bool
}

func compileValue(n *yaml.Node, env types.Map, errs *errList) *valueTmpl {
	switch n.Kind {
	case yaml.MappingNode:
		v := &valueTmpl{isMap: true}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			omit := strings.HasSuffix(k, "?")
			k = strings.TrimSuffix(k, "?")
			v.keys = append(v.keys, k)
			v.omit = append(v.omit, omit)
			v.vals = append(v.vals, compileValue(n.Content[i+1], env, errs))
		}
		return v
	case yaml.SequenceNode:
		v := &valueTmpl{isSeq: true, items: []*valueTmpl{}}
		for _, c := range n.Content {
			v.items = append(v.items, compileValue(c, env, errs))
		}
		return v
	case yaml.AliasNode:
		return compileValue(n.Alias, env, errs)
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str", "!":
			t := compileTemplate(n.Value, n, env, errs)
			if t == nil {
				return &valueTmpl{scalar: &tmpl{}}
			}
			return &valueTmpl{scalar: t}
		default:
			var lit any
			if err := n.Decode(&lit); err != nil {
				errs.at(n, 0, err.Error())
			}
			return &valueTmpl{scalar: &tmpl{lit: lit}}
		}
	}
	errs.at(n, 0, "unsupported YAML node in data")
	return &valueTmpl{scalar: &tmpl{}}
}

// fold precomputes subtrees without expressions.
func (v *valueTmpl) fold() *valueTmpl {
	for _, c := range append(v.vals, v.items...) {
		c.fold()
	}
	if len(v.programs()) == 0 {
		if k, err := v.eval(nil); err == nil {
			v.konst, v.isKonst = k, true
		}
	}
	return v
}

func (v *valueTmpl) eval(r *runner) (any, error) {
	if v.isKonst {
		return v.konst, nil
	}
	switch {
	case v.isMap:
		return v.evalMap(r)
	case v.isSeq:
		out := make([]any, 0, len(v.items))
		for _, it := range v.items {
			x, err := it.eval(r)
			if err != nil {
				return nil, err
			}
			out = append(out, normalize(x))
		}
		return out, nil
	}
	return v.scalar.eval(r)
}

// evalMap is eval of a mapping, unboxed (the intent's data).
func (v *valueTmpl) evalMap(r *runner) (messages.Object, error) {
	if v.isKonst {
		return v.konst.(messages.Object), nil
	}
	o := make(messages.Object, 0, len(v.keys))
	for i, k := range v.keys {
		x, err := v.vals[i].eval(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if v.omit[i] && (x == nil || x == "") {
			continue
		}
		o = append(o, messages.KV{Key: k, Value: normalize(x)})
	}
	return o, nil
}

func (v *valueTmpl) programs() []*program {
	if v.scalar != nil {
		return v.scalar.programs()
	}
	var out []*program
	for _, c := range append(v.vals, v.items...) {
		out = append(out, c.programs()...)
	}
	return out
}

// normalize turns what expressions return into what intent data may hold
// (messages.Object's documented value types).
func normalize(x any) any {
	switch v := x.(type) {
	case nil, bool, string, int, int64, uint64, float64, messages.Object, map[string]any:
		return v
	case []any:
		return x // as it is (v would be boxed again)
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case float32:
		return float64(v)
	case int32:
		return int(v)
	case uint:
		return uint64(v)
	}
	return text(x)
}
