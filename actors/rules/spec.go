package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/types"
	"go.yaml.in/yaml/v3"
)

// errList gathers every problem of a rule file, each as file:line:col.
type errList struct {
	file   string
	rule   string
	errs   []string
	params []*ParamProblem // overrides that do not fit (reported apart: they are the main config's)
	names  []string        // every rule name defined, compiled or not
}

func (e *errList) add(line, col int, msg string) {
	where := e.file
	if line > 0 {
		where = fmt.Sprintf("%s:%d:%d", e.file, line, col)
	}
	if e.rule != "" {
		msg = fmt.Sprintf("rule %q: %s", e.rule, msg)
	}
	e.errs = append(e.errs, where+": "+msg)
}

// quoteShift is where a scalar's text starts after its opening quote.
func quoteShift(n *yaml.Node) int {
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		return 1
	}
	return 0
}

// at reports msg at offset bytes into node's text (exact for one-line
// plain and quoted scalars; block scalars point at the node).
func (e *errList) at(n *yaml.Node, offset int, msg string) {
	if n == nil {
		e.add(0, 0, msg)
		return
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || n.Kind != yaml.ScalarNode {
		e.add(n.Line, n.Column, msg)
		return
	}
	e.add(n.Line, n.Column+quoteShift(n)+offset, msg)
}

func (e *errList) expr(n *yaml.Node, offset int, x *exprError) {
	if x.line > 1 || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		line := n.Line + x.line - 1
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			line++ // the text starts on the line after | or >
		}
		e.add(line, x.col, x.msg)
		return
	}
	e.add(n.Line, n.Column+quoteShift(n)+offset+x.col-1, x.msg)
}

func (e *errList) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return &LoadError{Problems: e.errs}
}

// LoadError lists every problem found in a rule set: Problems has them all
// as text (file:line:col first where there is one); Params and
// UnknownRules are the main config's overrides that do not fit, for a
// caller that reports them against its own config file.
type LoadError struct {
	Problems     []string
	Params       []*ParamProblem
	UnknownRules []string
	Known        []string // the rule names the files define
}

func (e *LoadError) Error() string { return strings.Join(e.Problems, "\n") }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Compiled is one checked rule definition: immutable, shared by every
// instance of the rule. New makes an instance (state starts empty).
type Compiled struct {
	name, kindName, hash, file string
	line                       int
	on                         []string
	onSet                      map[string]bool
	when                       *program
	lets                       []letDef
	groupBy                    *program
	cooldown                   time.Duration
	neverRateLimited           bool
	params                     map[string]any
	kind                       kind
	intentType                 *tmpl
	priority                   *tmpl
	reason                     *tmpl
	data                       *valueTmpl
	uses                       map[string]bool // top-level names read by any expression
	eventVars, intentVars      eventVars       // the event fields set per event, and only when firing
	combined                   *program        // the intent's expressions as one list
	fastReads                  []string        // env names the intent's plain reads use
	vmWindow                   bool            // a program on the VM reads window (set in env)
}

type dataKey struct{ env, key string }

// eventVars says which of the event's fields a set of expressions reads.
type eventVars struct {
	typ, source, ts, data, any bool
	keys                       []dataKey // data.X, flattened
}

func varsOf(names map[string]bool) eventVars {
	v := eventVars{typ: names[varType], source: names[varSource], ts: names[varTS], data: names[varData]}
	for name := range names {
		if k, ok := strings.CutPrefix(name, dataPrefix); ok {
			v.keys = append(v.keys, dataKey{env: name, key: k})
		}
	}
	sort.Slice(v.keys, func(i, j int) bool { return v.keys[i].env < v.keys[j].env })
	v.any = v.typ || v.source || v.ts || v.data || len(v.keys) > 0
	return v
}

type letDef struct {
	name string
	p    *program
}

// Name is the rule's name (unique in its set).
func (c *Compiled) Name() string { return c.name }

// Kind is the rule's kind (match, count, absence, rate, phase_report).
func (c *Compiled) Kind() string { return c.kindName }

// Hash identifies the rule's definition with its parameter values: a
// checkpoint or a reload keeps a rule's state only while its hash holds.
func (c *Compiled) Hash() string { return c.hash }

// Subscribes lists the event types the rule reads.
func (c *Compiled) Subscribes() []string { return append([]string(nil), c.on...) }

// TickEvery is how often the rule must be ticked (0: never).
func (c *Compiled) TickEvery() time.Duration { return c.kind.tickEvery() }

// NeverRateLimited reports whether the rule asked never to be rate limited
// (no cooldown; the dispatcher should not deduplicate its events).
func (c *Compiled) NeverRateLimited() bool { return c.neverRateLimited }

// Source is file:line of the rule's definition.
func (c *Compiled) Source() string { return fmt.Sprintf("%s:%d", c.file, c.line) }

// ruleFields are the fields every rule has; a kind adds its own.
var ruleFields = map[string]bool{"name": true, "kind": true, "description": true, "on": true, "when": true,
	"let": true, "params": true, "group_by": true, "cooldown": true, "never_rate_limited": true, "intent": true}

// compileRule checks one rule node whole and compiles it. overrides are the
// main config's rules.<name> values (nil: none).
func compileRule(file string, n *yaml.Node, overrides map[string]any, errs *errList) *Compiled {
	errs.rule = ""
	if n.Kind != yaml.MappingNode {
		errs.at(n, 0, "a rule must be a mapping")
		return nil
	}
	fields := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if _, dup := fields[k.Value]; dup {
			errs.at(k, 0, fmt.Sprintf("field %q given twice", k.Value))
		}
		fields[k.Value], keys[k.Value] = n.Content[i+1], k
	}
	c := &Compiled{file: file, line: n.Line, params: map[string]any{}}
	if v := fields["name"]; v == nil || v.Value == "" {
		errs.at(n, 0, "no name")
	} else {
		c.name = v.Value
		errs.rule = c.name
		errs.names = append(errs.names, c.name)
		if !nameRE.MatchString(c.name) {
			errs.at(v, 0, "name must match [a-z][a-z0-9_]*")
		}
	}
	before := len(errs.errs)
	// kind
	var factory KindFactory
	if v := fields["kind"]; v == nil {
		errs.at(n, 0, "no kind (want one of "+strings.Join(Kinds(), ", ")+")")
	} else {
		c.kindName = v.Value
		mu.Lock()
		factory = kinds[v.Value]
		mu.Unlock()
		if factory == nil {
			errs.at(v, 0, fmt.Sprintf("unknown kind %q (want one of %s)", v.Value, strings.Join(Kinds(), ", ")))
		}
	}
	// on
	if v := fields["on"]; v == nil {
		errs.at(n, 0, "no on: (the event types the rule reads)")
	} else {
		var on []string
		if v.Kind == yaml.ScalarNode {
			on = []string{v.Value}
		} else if err := v.Decode(&on); err != nil {
			errs.at(v, 0, "on: want an event type or a list of them")
		}
		c.onSet = map[string]bool{}
		for _, t := range on {
			if t == "" || c.onSet[t] {
				errs.at(v, 0, fmt.Sprintf("on: empty or repeated event type %q", t))
			}
			c.onSet[t] = true
		}
		c.on = on
		if len(on) == 0 {
			errs.at(v, 0, "on: no event types")
		}
	}
	// params
	var params []*param
	ptypes := types.Map{}
	if v := fields["params"]; v != nil {
		if v.Kind != yaml.MappingNode {
			errs.at(v, 0, "params: want a mapping")
		} else {
			for i := 0; i+1 < len(v.Content); i += 2 {
				name := v.Content[i].Value
				if p := parseParam(name, v.Content[i+1], errs); p != nil {
					params = append(params, p)
				}
			}
		}
	}
	errs.params = append(errs.params, applyOverrides(c.name, params, overrides)...)
	for _, p := range params {
		c.params[p.name] = p.value
		ptypes[p.name] = paramTypes[p.typ]
	}
	env := eventTypes()
	env[varParams] = ptypes
	sv := &Settings{fields: fields, keys: keys, rule: n, params: c.params, errs: errs, env: env}
	// when, let, group_by
	if v := fields["when"]; v != nil {
		c.when = sv.Expr("when", true)
	}
	if v := fields["let"]; v != nil {
		if v.Kind != yaml.MappingNode {
			errs.at(v, 0, "let: want a mapping of name: expression")
		} else {
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, x := v.Content[i], v.Content[i+1]
				if !nameRE.MatchString(k.Value) || reserved[k.Value] || env[k.Value] != nil || envFuncs[k.Value] != nil {
					errs.at(k, 0, fmt.Sprintf("let: %q is reserved, repeated or not a name", k.Value))
					continue
				}
				p, e := compile(x.Value, compileOpts{env: env, params: c.params})
				if e != nil {
					errs.expr(x, 0, e)
					continue
				}
				if e := fastExpr(x.Value, env, c.params); e != nil {
					p.fast = e.a
				}
				c.lets = append(c.lets, letDef{name: k.Value, p: p})
				env[k.Value] = typeOf(p.out)
			}
		}
	}
	if fields["group_by"] != nil {
		c.groupBy = sv.Expr("group_by", false)
	}
	c.cooldown = sv.Duration("cooldown", 0)
	if v := fields["never_rate_limited"]; v != nil {
		if err := v.Decode(&c.neverRateLimited); err != nil {
			errs.at(v, 0, "never_rate_limited: want true or false")
		}
		if c.neverRateLimited && c.cooldown > 0 {
			errs.at(v, 0, "never_rate_limited and a cooldown contradict each other")
		}
	}
	// kind settings
	if factory != nil {
		n0 := len(errs.errs)
		k, err := factory(sv)
		if err != nil && len(errs.errs) == n0 { // else a field's own error says it
			errs.at(n, 0, err.Error())
		}
		c.kind = k
	}
	for name, k := range keys {
		if !ruleFields[name] && !sv.used[name] {
			errs.at(k, 0, fmt.Sprintf("unknown field %q for kind %s", name, c.kindName))
		}
	}
	// intent
	wenv := types.Map{}
	for k, v := range env {
		wenv[k] = v
	}
	if c.kind != nil {
		vars := c.kind.vars()
		vars["key"] = types.String
		wenv[varWindow] = vars
	}
	if v := fields["intent"]; v == nil || v.Kind != yaml.MappingNode {
		errs.at(n, 0, "no intent: mapping (type, priority, reason, data)")
	} else {
		c.compileIntent(v, wenv, errs)
		if c.intentType != nil && c.reason != nil && c.priority != nil {
			c.combine(wenv, errs)
		}
	}
	if len(errs.errs) > before {
		return nil
	}
	vmUses := map[string]bool{} // what programs on the VM read from env
	for _, p := range c.programs() {
		if p.fast == nil { // a fast program reads the event itself (lets from env, always set)
			p.idents(vmUses)
		}
	}
	c.vmWindow = vmUses[varWindow]
	c.uses = maps.Clone(vmUses)
	for _, name := range c.fastReads {
		c.uses[name] = true
		if strings.HasPrefix(name, varWindow+".") {
			c.uses[varWindow] = true
		}
	}
	// What each event needs (condition, lets, group, kind) is set for every
	// event; what only the intent reads is set when the rule fires.
	early := map[string]bool{}
	for _, p := range []*program{c.when, c.groupBy} {
		if p != nil && p.fast == nil {
			p.idents(early)
		}
	}
	for _, l := range c.lets {
		if l.p.fast == nil {
			l.p.idents(early)
		}
	}
	if c.kind != nil {
		for _, p := range c.kind.programs() {
			if p.fast == nil {
				p.idents(early)
			}
		}
	}
	late := map[string]bool{} // plain reads take the event's fields from the event itself
	for name := range vmUses {
		if !early[name] {
			late[name] = true
		}
	}
	c.eventVars, c.intentVars = varsOf(early), varsOf(late)
	if r, ok := c.kind.(interface{ reads(map[string]bool) }); ok {
		used := map[string]bool{}
		for _, p := range c.programs() {
			p.windowMembers(used)
		}
		for _, name := range c.fastReads {
			if k, ok := strings.CutPrefix(name, varWindow+"."); ok {
				used[k] = true
			}
		}
		r.reads(used)
	}
	c.hash = hashRule(n, c.params)
	return c
}

func (c *Compiled) compileIntent(n *yaml.Node, env types.Map, errs *errList) {
	var prio *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "type":
			c.intentType = orEmpty(compileTemplate(v.Value, v, env, errs))
		case "priority":
			prio = v
		case "reason":
			c.reason = orEmpty(compileTemplate(v.Value, v, env, errs))
		case "data":
			if v.Kind != yaml.MappingNode {
				errs.at(v, 0, "intent.data: want a mapping")
				continue
			}
			c.data = compileValue(v, env, errs).fold()
		default:
			errs.at(k, 0, fmt.Sprintf("intent: unknown field %q (want type, priority, reason, data)", k.Value))
		}
	}
	if c.intentType == nil {
		errs.at(n, 0, "intent: no type")
	} else if c.intentType.whole == nil && c.intentType.parts == nil {
		if s, _ := c.intentType.lit.(string); !intentTypeRE.MatchString(s) {
			errs.at(n, 0, fmt.Sprintf("intent.type %q: want [a-z][a-z0-9_]*", s))
		}
	}
	if c.reason == nil {
		errs.at(n, 0, "intent: no reason")
	}
	if prio == nil {
		errs.at(n, 0, "intent: no priority")
		return
	}
	if strings.HasPrefix(prio.Value, "$") {
		v, ok := c.params[prio.Value[1:]]
		p, isInt := v.(int)
		if !ok || !isInt {
			errs.at(prio, 0, fmt.Sprintf("intent.priority: %s is not an int parameter", prio.Value))
			return
		}
		c.priority = &tmpl{lit: p}
		if p < 0 || p > 10 {
			errs.at(prio, 0, fmt.Sprintf("intent.priority = %d: must be 0..10", p))
		}
		return
	}
	if prio.Tag == "!!int" {
		var p int
		_ = prio.Decode(&p)
		if p < 0 || p > 10 {
			errs.at(prio, 0, fmt.Sprintf("intent.priority = %d: must be 0..10", p))
		}
		c.priority = &tmpl{lit: p}
		return
	}
	t := compileTemplate(prio.Value, prio, env, errs)
	if t != nil && t.whole == nil {
		errs.at(prio, 0, "intent.priority: want 0..10, a $param or one {{ expression }}")
		return
	}
	c.priority = t
}

// orEmpty stands in for a template that failed (its error is reported).
func orEmpty(t *tmpl) *tmpl {
	if t == nil {
		return &tmpl{lit: "x"}
	}
	return t
}

// combine compiles every expression of the intent into one list, so
// building an intent is one VM run instead of one per template piece, and
// loading one compilation instead of one per piece. If the list does not
// compile, each piece is compiled alone to say where the problem is.
func (c *Compiled) combine(env types.Map, errs *errList) {
	var progs []*program
	for _, p := range c.intentPrograms() {
		if fast, names := simpleRead(p.src, env, c.params); fast != nil {
			p.fast = fast
			c.fastReads = append(c.fastReads, names...)
			continue
		}
		progs = append(progs, p)
	}
	if len(progs) == 0 {
		return
	}
	srcs := make([]string, len(progs))
	for i, p := range progs {
		srcs[i] = "(" + p.src + "\n)"
	}
	all, e := compile("["+strings.Join(srcs, ",\n")+"]", compileOpts{env: env, params: c.params})
	if e != nil {
		n := len(errs.errs)
		for _, p := range progs {
			if _, pe := compile(p.src, compileOpts{env: env, params: c.params}); pe != nil {
				errs.expr(p.node, p.off, pe)
			}
		}
		if len(errs.errs) == n {
			errs.add(c.line, 1, "intent: "+e.msg)
		}
		return
	}
	for i, p := range progs {
		p.slot = i
	}
	c.combined = all
}

func (c *Compiled) intentPrograms() []*program {
	var progs []*program
	for _, t := range []*tmpl{c.intentType, c.priority, c.reason} {
		if t != nil {
			progs = append(progs, t.programs()...)
		}
	}
	if c.data != nil {
		progs = append(progs, c.data.programs()...)
	}
	return progs
}

var intentTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (c *Compiled) programs() []*program {
	var out []*program
	add := func(p *program) {
		if p != nil {
			out = append(out, p)
		}
	}
	add(c.when)
	add(c.groupBy)
	for _, l := range c.lets {
		add(l.p)
	}
	add(c.combined)
	if c.kind != nil {
		out = append(out, c.kind.programs()...)
	}
	return out
}

// hashRule hashes the rule's YAML tree (kinds, tags and values: comments,
// quoting and layout do not count) and its parameter values after
// overrides.
func hashRule(n *yaml.Node, params map[string]any) string {
	h := sha256.New()
	h.Write(appendNode(nil, n))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys { // as before: a checkpoint's keys stay valid
		fmt.Fprintf(h, "\x00%s=%T:%v", k, params[k], params[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// appendNode appends the YAML tree's kinds, tags and values (a hash's
// input; no fmt: it runs twice per rule at load).
func appendNode(b []byte, n *yaml.Node) []byte {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return appendNode(b, n.Alias)
	}
	b = append(b, 1)
	b = strconv.AppendInt(b, int64(n.Kind), 10)
	b = append(b, 2)
	b = append(b, n.ShortTag()...)
	b = append(b, 2)
	b = strconv.AppendInt(b, int64(len(n.Value)), 10)
	b = append(b, ':')
	b = append(b, n.Value...)
	for _, c := range n.Content {
		b = appendNode(b, c)
	}
	return append(b, 3)
}

// Settings gives a kind its fields. A field's value is a literal, a
// $param, or (for expressions) an expression string.
type Settings struct {
	fields map[string]*yaml.Node
	keys   map[string]*yaml.Node
	rule   *yaml.Node
	params map[string]any
	errs   *errList
	env    types.Map
	used   map[string]bool
	progs  []*program
}

func (s *Settings) take(name string) *yaml.Node {
	if s.used == nil {
		s.used = map[string]bool{}
	}
	s.used[name] = true
	return s.fields[name]
}

// resolve returns the field's value: a $param's value or the YAML scalar.
func (s *Settings) resolve(name string) (any, *yaml.Node) {
	n := s.take(name)
	if n == nil {
		return nil, nil
	}
	if strings.HasPrefix(n.Value, "$") && n.Kind == yaml.ScalarNode {
		v, ok := s.params[n.Value[1:]]
		if !ok {
			s.errs.at(n, 0, fmt.Sprintf("%s: no parameter %s", name, n.Value))
			return nil, nil
		}
		return v, n
	}
	return yamlScalar(n), n
}

// Duration reads a duration field (def when absent).
func (s *Settings) Duration(name string, def time.Duration) time.Duration {
	v, n := s.resolve(name)
	switch x := v.(type) {
	case nil:
		return def
	case time.Duration:
		return x
	case string:
		d, err := time.ParseDuration(x)
		if err == nil {
			return d
		}
	case int:
		if x == 0 {
			return 0
		}
	}
	s.errs.at(n, 0, fmt.Sprintf("%s = %v: want a duration (30s, 10m, 1h)", name, v))
	return def
}

// Float reads a number field.
func (s *Settings) Float(name string, def float64) float64 {
	v, n := s.resolve(name)
	if v == nil {
		return def
	}
	if f, ok := toFloat(v); ok {
		if _, isStr := v.(string); !isStr {
			return f
		}
	}
	s.errs.at(n, 0, fmt.Sprintf("%s = %v: want a number", name, v))
	return def
}

// Int reads an integer field.
func (s *Settings) Int(name string, def int) int {
	v, n := s.resolve(name)
	if v == nil {
		return def
	}
	if i, ok := v.(int); ok {
		return i
	}
	s.errs.at(n, 0, fmt.Sprintf("%s = %v: want an integer", name, v))
	return def
}

// String reads a string field.
func (s *Settings) String(name, def string) string {
	v, n := s.resolve(name)
	if v == nil {
		return def
	}
	if x, ok := v.(string); ok {
		return x
	}
	s.errs.at(n, 0, fmt.Sprintf("%s = %v: want a string", name, v))
	return def
}

// Bool reads a boolean field.
func (s *Settings) Bool(name string, def bool) bool {
	v, n := s.resolve(name)
	if v == nil {
		return def
	}
	if x, ok := v.(bool); ok {
		return x
	}
	s.errs.at(n, 0, fmt.Sprintf("%s = %v: want true or false", name, v))
	return def
}

// Expr compiles an expression field over the event, params and let values
// (nil when absent).
func (s *Settings) Expr(name string, asBool bool) *program {
	n := s.take(name)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		s.errs.at(n, 0, name+": want an expression")
		return nil
	}
	p, e := compile(n.Value, compileOpts{env: s.env, asBool: asBool, params: s.params})
	if e != nil {
		s.errs.expr(n, 0, e)
		return nil
	}
	if e := fastExpr(n.Value, s.env, s.params); e != nil {
		p.fast, p.num = e.a, e.n
	}
	return p
}

// Fail reports a problem with a field.
func (s *Settings) Fail(name, msg string) {
	n := s.fields[name]
	if n == nil {
		n = s.rule
	}
	s.errs.at(n, 0, msg)
}

var errNoState = errors.New("rules: no state")
