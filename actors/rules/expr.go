package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// Names every expression sees. The event is flat at the top level (one map
// lookup each, the hot path); params, window and the rule's let values sit
// beside it.
const (
	varType   = "type"
	varSource = "source"
	varTS     = "ts"
	varData   = "data"
	varParams = "params"
	varWindow = "window"
)

var reserved = map[string]bool{varType: true, varSource: true, varTS: true, varData: true, varParams: true, varWindow: true}

var durationType = types.TypeOf(time.Duration(0))

// eventTypes is the type of the event's fields for the checker: data keys
// are whatever the source put there (any).
func eventTypes() types.Map {
	m := types.Map{varType: types.String, varSource: types.String, varTS: types.Float64,
		varData: types.Map{types.Extra: types.Any}}
	for name, fn := range envFuncs {
		m[name] = types.TypeOf(fn)
	}
	return m
}

// envFuncs are the helpers called on the hot path (conditions, data
// accessors). They live in the env rather than as expr.Function: their
// signatures are ones expr calls directly (OpCallTyped), with no argument
// slice and no reflection.
var envFuncs = map[string]any{
	"str":   func(x any) string { return text(x) },
	"num":   func(x any) float64 { f, _ := toFloat(x); return f },
	"isnum": func(x any) bool { _, ok := toFloat(x); return ok },
	"pyfloat": func(x any) string {
		f, _ := toFloat(x)
		s, err := intentfile.PyFloat(f)
		if err != nil {
			return text(x)
		}
		return s
	},
}

// functions are the helpers rule files may call besides expr's builtins.
// now() and date() are disabled: a rule sees time only through the event's
// ts and its window, so replays and tests are deterministic.
var functions = []expr.Option{
	expr.DisableBuiltin("now"),
	expr.DisableBuiltin("date"),
	expr.Function("human", func(p ...any) (any, error) { return human(p[0].(time.Duration)), nil },
		new(func(time.Duration) string)),
	expr.Function("seconds", func(p ...any) (any, error) { return p[0].(time.Duration).Seconds(), nil },
		new(func(time.Duration) float64)),
	expr.Function("sprintf", func(p ...any) (any, error) { return fmt.Sprintf(p[0].(string), p[1:]...), nil },
		new(func(string, ...any) string)),
	expr.Function("hash8", func(p ...any) (any, error) {
		h := sha256.New()
		for _, v := range p {
			h.Write([]byte(text(v)))
			h.Write([]byte{0})
		}
		return hex.EncodeToString(h.Sum(nil))[:8], nil
	}, new(func(...any) string)),
	expr.Function("capture", func(p ...any) (any, error) {
		re, err := cachedRegexp(p[1].(string))
		if err != nil {
			return nil, err
		}
		m := re.FindStringSubmatch(p[0].(string))
		if m == nil {
			return nil, nil
		}
		out := make([]any, len(m))
		for i, s := range m {
			out[i] = s
		}
		return out, nil
	}, new(func(string, string) []any)),
	expr.Function("iso", func(p ...any) (any, error) {
		return fromEpoch(p[0].(float64)).Format("2006-01-02T15:04:05.000Z07:00"), nil
	}, new(func(float64) string)),
	expr.Function("trunc", func(p ...any) (any, error) {
		s, n := p[0].(string), p[1].(int)
		if r := []rune(s); len(r) > n {
			return string(r[:n]) + "…", nil
		}
		return s, nil
	}, new(func(string, int) string)),
	expr.Function("slug", func(p ...any) (any, error) { return slug(p[0].(string)), nil }, new(func(string) string)),
}

var regexps sync.Map

func cachedRegexp(pat string) (*regexp.Regexp, error) {
	if re, ok := regexps.Load(pat); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, err
	}
	regexps.Store(pat, re)
	return re, nil
}

// slug makes a unit name an identifier part: "kloros-intent-router.service"
// → "kloros_intent_router".
func slug(s string) string {
	for _, suf := range []string{".service", ".timer", ".socket", ".target"} {
		s = strings.TrimSuffix(s, suf)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// text formats a value for a template: strings as they are, floats as
// Python's repr (the colony's f-strings), durations as "10 minutes", nil as
// "".
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		s, err := intentfile.PyFloat(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return s
	case float32:
		return text(float64(x))
	case time.Duration:
		return human(x)
	}
	return fmt.Sprint(v)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// human writes a duration as the seed did ("10 minutes", "2 hours").
func human(d time.Duration) string {
	switch {
	case d != 0 && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d != 0 && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// program is one compiled expression and the top-level names it reads.
type program struct {
	src  string
	prog *vm.Program  // nil for an intent template piece: it runs in the intent's combined program
	out  reflect.Type // nil: any
	slot int          // index in the intent's combined program (-1: none)
	node *yaml.Node   // where the piece is, to report an error
	off  int
	fast func(r *runner) any             // a plain read (x, data.x, str(data.x), window.x): no VM
	num  func(r *runner) (float64, bool) // with fast: its result as a number, unboxed (nil: use fast)
}

// simpleRead recognises a template piece that only reads a value — a
// variable, data.X, params.X, window.X, or str/num/isnum of one of those —
// and returns a Go function for it and the env names it reads. Anything
// else (or a name env does not know) returns nil and runs on the VM. The
// function reads the event, the window and the parameters directly (not
// through the env map), so what only plain reads use is never put in env.
func simpleRead(src string, env types.Map, params map[string]any) (func(*runner) any, []string) {
	root := parsed(src)
	if root == nil {
		return nil, nil
	}
	read, name := plainRead(root, env, params)
	if read != nil {
		return read, []string{name}
	}
	call, ok := root.(*ast.CallNode)
	if !ok || len(call.Arguments) != 1 {
		return nil, nil
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil, nil
	}
	arg, name := plainRead(call.Arguments[0], env, params)
	if arg == nil {
		return nil, nil
	}
	switch id.Value {
	case "str":
		return func(r *runner) any {
			v := arg(r)
			if _, ok := v.(string); ok {
				return v // text of a string is itself: no new box
			}
			return text(v)
		}, []string{name}
	case "num":
		return func(r *runner) any { f, _ := toFloat(arg(r)); return f }, []string{name}
	case "isnum":
		return func(r *runner) any { _, ok := toFloat(arg(r)); return ok }, []string{name}
	case "pyfloat":
		f := envFuncs["pyfloat"].(func(any) string)
		return func(r *runner) any { return f(arg(r)) }, []string{name}
	case "seconds", "human":
		// only over a duration parameter, so the type is known without the checker
		pt, _ := env[varParams].(types.Map)
		k, isParam := strings.CutPrefix(name, paramsPrefix)
		if !isParam || pt[k] == nil || !pt[k].Equal(durationType) {
			return nil, nil
		}
		if id.Value == "seconds" {
			return func(r *runner) any { d, _ := arg(r).(time.Duration); return d.Seconds() }, []string{name}
		}
		return func(r *runner) any { d, _ := arg(r).(time.Duration); return human(d) }, []string{name}
	}
	return nil, nil
}

// parsed returns src's syntax tree (nil if it does not parse), parsed once
// per text: the same template piece recurs in many rules, and simpleRead
// only reads the tree.
func parsed(src string) ast.Node {
	treeMu.Lock()
	n, ok := trees[src]
	treeMu.Unlock()
	if ok {
		return n
	}
	if tree, err := parser.Parse(src); err == nil {
		n = tree.Node
	}
	treeMu.Lock()
	if len(trees) >= maxProgs {
		clear(trees)
	}
	trees[src] = n
	treeMu.Unlock()
	return n
}

var (
	treeMu sync.Mutex
	trees  = map[string]ast.Node{}
)

// plainRead: a declared variable, data.X, params.X (declared) or window.X
// (declared). The event's fields are read from the event being handled
// (with no event, on a tick, as clearEvent leaves them: "", 0.0, nil), a
// parameter is its value, a let value is read from env.
func plainRead(n ast.Node, env types.Map, params map[string]any) (func(*runner) any, string) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if _, ok := env[x.Value]; !ok || x.Value == varData || x.Value == varParams || x.Value == varWindow {
			return nil, ""
		}
		name := x.Value
		switch name {
		case varType:
			return (*runner).evType, name
		case varSource:
			return (*runner).evSource, name
		case varTS:
			return (*runner).evTS, name
		}
		return func(r *runner) any { return r.env[name] }, name
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok || x.Optional {
			return nil, ""
		}
		s, ok := x.Property.(*ast.StringNode)
		if !ok {
			return nil, ""
		}
		key := s.Value
		switch id.Value {
		case varData:
			return func(r *runner) any {
				if r.ev == nil {
					return nil
				}
				return r.ev.Data[key]
			}, dataPrefix + key
		case varParams:
			if pt, _ := env[varParams].(types.Map); pt[key] == nil {
				return nil, ""
			}
			v := params[key]
			return func(*runner) any { return v }, paramsPrefix + key
		case varWindow:
			if wt, _ := env[varWindow].(types.Map); wt[key] == nil {
				return nil, ""
			}
			return func(r *runner) any {
				if r.wvars != nil {
					if key == "key" {
						return r.wkey
					}
					return r.wvars.windowVar(key)
				}
				return r.window[key]
			}, varWindow + "." + key
		}
	}
	return nil, ""
}

// dataPrefix names the flattened event fields: data.value is compiled as
// the top-level variable "data.value", which the rule fills from the
// event's map with one lookup — no reflection in the hot path (expr fetches
// a member of a map through reflect).
const dataPrefix = "data."

// dataKeyRE finds data.X and data["X"] in a source (not .data.X inside a
// closure): a scan, not a parse, since it runs for every expression at
// load. Only keys found here are flattened; anything else stays a member.
var dataKeyRE = regexp.MustCompile(`(?:^|[^.#\w$])data\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*"([^"\\]+)"\s*\])`)

// dataKeys lists the data.X members src reads directly.
func dataKeys(src string) map[string]bool {
	var keys map[string]bool
	for _, m := range dataKeyRE.FindAllStringSubmatch(src, -1) {
		if keys == nil {
			keys = map[string]bool{}
		}
		keys[m[1]+m[2]] = true
	}
	return keys
}

// paramsPrefix flattens params.X the same way (set once per instance).
const paramsPrefix = "params."

// flattenVisitor rewrites data.X (X found by dataKeys) into the flat
// variable "data.X", and params.X into its value (a rule's parameters are
// fixed once it is compiled), folding seconds() and human() of a constant
// duration.
type flattenVisitor struct {
	data, params map[string]bool
	values       map[string]any
}

func (v flattenVisitor) Visit(n *ast.Node) {
	if call, ok := (*n).(*ast.CallNode); ok { // children are visited first
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && len(call.Arguments) == 1 {
			if c, ok := call.Arguments[0].(*ast.ConstantNode); ok {
				if d, ok := c.Value.(time.Duration); ok {
					switch id.Value {
					case "seconds":
						ast.Patch(n, &ast.ConstantNode{Value: d.Seconds()})
					case "human":
						ast.Patch(n, &ast.ConstantNode{Value: human(d)})
					}
				}
			}
		}
		return
	}
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	switch {
	case id.Value == varData && v.data[s.Value]:
		ast.Patch(n, &ast.IdentifierNode{Value: dataPrefix + s.Value})
	case id.Value == varParams && v.params[s.Value]:
		if val, ok := v.values[s.Value]; ok {
			ast.Patch(n, &ast.ConstantNode{Value: val})
			return
		}
		ast.Patch(n, &ast.IdentifierNode{Value: paramsPrefix + s.Value})
	}
}

// compileOpts are the options of one compilation.
type compileOpts struct {
	env    types.Map
	asBool bool
	params map[string]any // the rule's parameter values: params.X compiles to a constant
}

// compile compiles src against env; errors carry the position inside src
// (line, column; 1-based) for the caller to shift to the file.
func compile(src string, o compileOpts) (*program, *exprError) {
	key := progKey(src, o)
	progMu.Lock()
	p, ok := progCache[key]
	progMu.Unlock()
	if !ok || key == "" {
		var e *exprError
		if p, e = compileNew(src, o); e != nil {
			return nil, e
		}
		if key != "" {
			progMu.Lock()
			if len(progCache) >= maxProgs {
				clear(progCache)
			}
			progCache[key] = p
			progMu.Unlock()
		}
	}
	return &program{src: src, prog: p, out: p.Node().Type(), slot: -1}, nil
}

// Compiled programs are shared between expressions with the same text,
// environment (names and types), parameter values (params.X compiles to
// its value) and result kind: a vm.Program is immutable and runs on each
// caller's own VM, and a rule set written from a template (the same
// condition in many rules) compiles each expression once. Only successful
// compilations are kept, so an error is always found (and located) again.
var (
	progMu    sync.Mutex
	progCache = map[string]*vm.Program{}
	maxProgs  = 20000
	shareProg = true // tests and benchmarks turn sharing off to measure compilation itself
)

// progKey is the cache key of an expression: everything compile reads.
func progKey(src string, o compileOpts) string {
	if !shareProg {
		return ""
	}
	var b strings.Builder
	b.Grow(len(src) + 512)
	if o.asBool {
		b.WriteString("b\x00")
	} else {
		b.WriteString("a\x00")
	}
	b.WriteString(src)
	b.WriteByte(0)
	typeSig(&b, o.env)
	if strings.Contains(src, varParams) {
		keys := make([]string, 0, len(o.params))
		for k := range o.params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte(0)
			b.WriteString(k)
			b.WriteByte('=')
			writeValue(&b, o.params[k])
		}
	}
	return b.String()
}

// typeSig writes a checker type with map keys sorted (types.Map's String
// is in map order).
func typeSig(b *strings.Builder, t types.Type) {
	m, ok := t.(types.Map)
	if !ok {
		b.WriteString(t.String())
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(':')
		typeSig(b, m[k])
		b.WriteByte(',')
	}
	b.WriteByte('}')
}

// writeValue writes a parameter value with its Go type (int 3 and float 3
// differ), without fmt for the common types.
func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case int:
		b.WriteString("i:")
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString("f:")
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		b.WriteString("s:")
		b.WriteString(strconv.Quote(x))
	case bool:
		b.WriteString("b:")
		b.WriteString(strconv.FormatBool(x))
	case time.Duration:
		b.WriteString("d:")
		b.WriteString(strconv.FormatInt(int64(x), 10))
	default:
		fmt.Fprintf(b, "%T:%#v", v, v)
	}
}

func compileNew(src string, o compileOpts) (*vm.Program, *exprError) {
	env := o.env
	var keys, params map[string]bool
	if _, ok := env[varData]; ok {
		keys = dataKeys(src)
	}
	ptypes, _ := env[varParams].(types.Map)
	if len(ptypes) > 0 && strings.Contains(src, varParams) {
		params = make(map[string]bool, len(ptypes))
		for k := range ptypes {
			params[k] = true
		}
	}
	if len(keys) > 0 || len(params) > 0 {
		env = make(types.Map, len(o.env)+len(keys)+len(params))
		for k, v := range o.env {
			env[k] = v
		}
		for k := range keys {
			env[dataPrefix+k] = types.Any
		}
		for k := range params {
			env[paramsPrefix+k] = ptypes[k]
		}
	}
	opts := append([]expr.Option{expr.Env(env)}, functions...)
	if len(keys) > 0 || len(params) > 0 {
		opts = append(opts, expr.Patch(flattenVisitor{data: keys, params: params, values: o.params}))
	}
	if o.asBool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &exprError{line: fe.Line, col: fe.Column + 1, msg: fe.Message}
		}
		return nil, &exprError{line: 1, col: 1, msg: err.Error()}
	}
	return p, nil
}

type exprError struct {
	line, col int
	msg       string
}

// idents lists the top-level identifiers a program reads.
func (p *program) idents(into map[string]bool) {
	node := p.prog.Node()
	ast.Walk(&node, identVisitor(into))
}

// windowMembers adds the window.X members a program reads.
func (p *program) windowMembers(into map[string]bool) {
	node := p.prog.Node()
	ast.Walk(&node, windowVisitor(into))
}

type windowVisitor map[string]bool

func (v windowVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == varWindow {
		if s, ok := m.Property.(*ast.StringNode); ok {
			v[s.Value] = true
		} else {
			v["events"] = true // window[expr]: could be anything
		}
	}
}

type identVisitor map[string]bool

func (v identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v[id.Value] = true
	}
}

// typeOf is the checker's type for a value of Go type t (any when unknown).
func typeOf(t reflect.Type) types.Type {
	if t == nil || t.Kind() == reflect.Interface {
		return types.Any
	}
	return types.TypeOf(reflect.Zero(t).Interface())
}
