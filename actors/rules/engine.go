package rules

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"github.com/kloros/kloros-observer/messages"
)

// Rule is the logic of one rule.
type Rule interface {
	// Subscribes lists the event types the dispatcher sends to this rule.
	Subscribes() []string
	// OnEvent handles one event observed at now. The intents returned are
	// valid until the rule's next OnEvent or OnTick (the caller sends or
	// copies them at once; the slice may be reused).
	OnEvent(ev *messages.Event, now time.Time) []messages.Intent
	// TickEvery is how often OnTick must run; 0 means never.
	TickEvery() time.Duration
	// OnTick lets the rule act on time passing (windows, absence).
	OnTick(now time.Time) []messages.Intent
}

// Stateful is a Rule whose windows and cooldowns can be saved and put back.
type Stateful interface {
	Rule
	Name() string
	Hash() string
	Snapshot() (json.RawMessage, error)
	Restore(json.RawMessage) error
}

// KindFactory checks a rule's kind-specific fields and returns the kind.
type KindFactory func(s *Settings) (kind, error)

// kind is the Go half of a rule: how events and time turn into firings.
type kind interface {
	// vars declares window.* as the kind fills it.
	vars() types.Map
	tickEvery() time.Duration
	newGroup(now time.Time) group
	programs() []*program
}

// group is the state of one group_by key.
type group interface {
	// event folds an event in; true when the rule should fire now.
	event(ev *messages.Event, now time.Time, r *runner) bool
	// tick is time passing; true when the rule should fire now.
	tick(now time.Time) bool
	// vars fills window.* for the intent.
	vars(now time.Time) map[string]any
	// fired: an intent was written (windows reset).
	fired(now time.Time)
	// idle: the group holds nothing worth keeping.
	idle(now time.Time) bool
	json.Marshaler
	json.Unmarshaler
}

var (
	mu    sync.Mutex
	kinds = map[string]KindFactory{}
)

// RegisterKind adds a rule kind under name. It panics on a duplicate name
// (Caddy's RegisterModule).
func RegisterKind(name string, f KindFactory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[name]; dup {
		panic(fmt.Sprintf("rules: RegisterKind called twice for %q", name))
	}
	kinds[name] = f
}

// Kinds returns every registered kind, sorted.
func Kinds() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// maxGroups bounds the group_by keys one rule tracks; past it new keys are
// not tracked (counted in the instance's dropped groups).
const maxGroups = 10000

// runner evaluates a rule's programs against one event. Each instance owns
// one, so the env map and the VM's stack are reused (no allocation per
// event beyond what expressions themselves make). Plain reads (program.fast)
// take the event, its time and the window from here, not from env.
type runner struct {
	env   map[string]any
	vm    vm.VM
	log   *slog.Logger
	slots []any // values of the intent's combined program, while building one

	ev                 *messages.Event // the event being handled (nil on a tick)
	now                time.Time
	window             map[string]any // window.* of the intent being built
	wvars              windowVars     // or, when set, the group that gives window.* (and wkey)
	wkey               string
	buf                []byte // a template's text while it is written
	typeBox, sourceBox boxed
}

func (r *runner) run(p *program) (any, error) {
	if p.fast != nil {
		return p.fast(r), nil
	}
	if r.slots != nil && p.slot >= 0 {
		return r.slots[p.slot], nil
	}
	return r.vm.Run(p.prog, r.env)
}

// evType, evSource and evTS are the event's fields as setEvent puts them in
// env (and as clearEvent leaves them when there is no event).
func (r *runner) evType() any {
	if r.ev == nil {
		return ""
	}
	return r.typeBox.box(r.ev.Type)
}

func (r *runner) evSource() any {
	if r.ev == nil {
		return ""
	}
	return r.sourceBox.box(r.ev.Source)
}

func (r *runner) evTS() any {
	if r.ev == nil {
		return 0.0
	}
	t := r.ev.TS
	if t.IsZero() {
		t = r.now
	}
	return epoch(t)
}

// Instance is one running rule: its definition and its state.
type Instance struct {
	c       *Compiled
	groups  map[string]*groupEntry
	order   []string // group keys in creation order (deterministic ticks)
	run     runner
	log     *slog.Logger
	errs    int
	dropped int

	one [1]messages.Intent // what fire returns
}

// windowVars is a group that gives one of its vars at a time.
type windowVars interface {
	windowVar(name string) any
}

type groupEntry struct {
	g         group
	lastFired time.Time
}

// New makes a fresh instance of the rule.
func (c *Compiled) New() *Instance {
	in := &Instance{c: c, groups: map[string]*groupEntry{}, log: slog.Default().With("rule", c.name)}
	in.run.env = make(map[string]any, 16+len(c.params)+len(envFuncs))
	in.run.env[varParams] = c.params
	for k, v := range c.params {
		in.run.env[paramsPrefix+k] = v
	}
	for k, v := range envFuncs {
		in.run.env[k] = v
	}
	in.run.log = in.log
	return in
}

// SetLogger sets where evaluation errors are logged.
func (in *Instance) SetLogger(l *slog.Logger) {
	in.log = l.With("rule", in.c.name)
	in.run.log = in.log
}

// Compiled returns the definition.
func (in *Instance) Compiled() *Compiled { return in.c }

// Name implements Stateful.
func (in *Instance) Name() string { return in.c.name }

// Hash implements Stateful.
func (in *Instance) Hash() string { return in.c.hash }

// Subscribes implements Rule.
func (in *Instance) Subscribes() []string { return in.c.Subscribes() }

// TickEvery implements Rule.
func (in *Instance) TickEvery() time.Duration { return in.c.kind.tickEvery() }

// Errors is how many evaluations failed (each logged).
func (in *Instance) Errors() int { return in.errs }

var none []messages.Intent

func (in *Instance) setEvent(ev *messages.Event, now time.Time, u *eventVars) {
	if !u.any {
		return
	}
	env := in.run.env
	if u.typ {
		env[varType] = in.run.typeBox.box(ev.Type)
	}
	if u.source {
		env[varSource] = in.run.sourceBox.box(ev.Source)
	}
	if u.ts {
		t := ev.TS
		if t.IsZero() {
			t = now
		}
		env[varTS] = epoch(t)
	}
	if u.data {
		d := ev.Data
		if d == nil {
			d = map[string]any{}
		}
		env[varData] = d
	}
	for _, k := range u.keys {
		env[k.env] = ev.Data[k.key]
	}
}

// boxed is a string already converted to any: events repeat a few types
// and sources, so reusing the conversion saves an allocation per event.
type boxed struct {
	s string
	v any
}

func (b *boxed) box(s string) any {
	if b.v == nil || b.s != s {
		b.s, b.v = s, s
	}
	return b.v
}

func (in *Instance) fail(stage string, err error) {
	in.errs++
	if in.errs <= 10 || in.errs%1000 == 0 {
		in.log.Warn("rule evaluation failed", "stage", stage, "err", err, "errors", in.errs)
	}
}

// OnEvent implements Rule.
func (in *Instance) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	if !slices.Contains(in.c.on, ev.Type) { // a rule reads one or two types: cheaper than hashing into onSet
		return none // the dispatcher routes by type; a rule still checks its own
	}
	c := in.c
	in.run.ev, in.run.now = ev, now // kept until the next event or tick (one event per rule)
	in.setEvent(ev, now, &c.eventVars)
	if c.when != nil {
		ok, err := in.run.run(c.when)
		if err != nil {
			in.fail("when", err)
			return none
		}
		if ok != true {
			return none
		}
	}
	for _, l := range c.lets {
		v, err := in.run.run(l.p)
		if err != nil {
			in.fail("let "+l.name, err)
			return none
		}
		in.run.env[l.name] = v
	}
	key := ""
	if c.groupBy != nil {
		v, err := in.run.run(c.groupBy)
		if err != nil {
			in.fail("group_by", err)
			return none
		}
		key = text(v)
	}
	ge := in.group(key, now)
	if ge == nil || !ge.g.event(ev, now, &in.run) {
		return none
	}
	return in.fire(ge, key, now, ev)
}

func (in *Instance) group(key string, now time.Time) *groupEntry {
	ge := in.groups[key]
	if ge == nil {
		if len(in.groups) >= maxGroups {
			in.gc(now)
			if len(in.groups) >= maxGroups {
				in.dropped++
				return nil
			}
		}
		ge = &groupEntry{g: in.c.kind.newGroup(now)}
		in.groups[key] = ge
		in.order = append(in.order, key)
	}
	return ge
}

// gc forgets idle groups past their cooldown.
func (in *Instance) gc(now time.Time) {
	keep := in.order[:0]
	for _, k := range in.order {
		ge := in.groups[k]
		if ge.g.idle(now) && (ge.lastFired.IsZero() || now.Sub(ge.lastFired) >= in.c.cooldown) {
			delete(in.groups, k)
			continue
		}
		keep = append(keep, k)
	}
	in.order = keep
}

// OnTick implements Rule.
func (in *Instance) OnTick(now time.Time) []messages.Intent {
	if in.c.kind.tickEvery() <= 0 {
		return none
	}
	if in.c.groupBy == nil {
		in.group("", now) // absence is armed from the start
	}
	var out []messages.Intent
	for _, k := range in.order {
		ge := in.groups[k]
		if ge.g.tick(now) {
			in.clearEvent()
			in.run.ev, in.run.now = nil, now
			out = append(out, in.fire(ge, k, now, nil)...)
		}
	}
	in.run.window = nil
	return out
}

func (in *Instance) clearEvent() {
	env := in.run.env
	env[varType], env[varSource], env[varTS], env[varData] = "", "", 0.0, map[string]any{}
	for _, u := range []*eventVars{&in.c.eventVars, &in.c.intentVars} {
		for _, k := range u.keys {
			env[k.env] = nil
		}
	}
	for _, l := range in.c.lets {
		env[l.name] = nil
	}
}

func (in *Instance) fire(ge *groupEntry, key string, now time.Time, ev *messages.Event) []messages.Intent {
	c := in.c
	if c.cooldown > 0 && !ge.lastFired.IsZero() && now.Sub(ge.lastFired) < c.cooldown {
		return none
	}
	if ev != nil {
		in.setEvent(ev, now, &c.intentVars)
	}
	in.run.wvars = nil
	if c.uses[varWindow] {
		if wv, ok := ge.g.(windowVars); ok && !c.vmWindow {
			// only plain reads see the window: they ask the group, no map is built
			in.run.wvars, in.run.wkey = wv, key
		} else {
			w := ge.g.vars(now)
			w["key"] = key
			in.run.window = w
			if c.vmWindow {
				in.run.env[varWindow] = w
			}
		}
	}
	if err := in.build(now, &in.one[0]); err != nil { // no slice allocated per intent (see Rule.OnEvent)
		in.one[0] = messages.Intent{}
		in.fail("intent", err)
		return none
	}
	ge.g.fired(now)
	ge.lastFired = now
	return in.one[:]
}

// build writes the intent into out.
func (in *Instance) build(now time.Time, out *messages.Intent) error {
	c, r := in.c, &in.run
	if c.combined != nil { // every expression of the intent in one run
		v, err := r.vm.Run(c.combined.prog, r.env)
		if err != nil {
			return err
		}
		r.slots = v.([]any)
		defer func() { r.slots = nil }()
	}
	typ, err := c.intentType.eval(r)
	if err != nil {
		return fmt.Errorf("type: %w", err)
	}
	ts, _ := typ.(string)
	if c.intentType.lit == nil && !validType(ts) { // a literal type was checked at load
		return fmt.Errorf("type %v: want [a-z][a-z0-9_]*", typ)
	}
	pv, err := c.priority.eval(r)
	if err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	pf, ok := toFloat(pv)
	if _, isStr := pv.(string); isStr || !ok || pf < 0 || pf > 10 || pf != float64(int(pf)) {
		return fmt.Errorf("priority %v: must be an integer 0..10", pv)
	}
	reason, err := c.reason.text(r)
	if err != nil {
		return fmt.Errorf("reason: %w", err)
	}
	data := messages.Object{}
	if c.data != nil {
		d, err := c.data.evalMap(r)
		if err != nil {
			return fmt.Errorf("data.%w", err)
		}
		data = d
	}
	*out = messages.Intent{Type: ts, Priority: int(pf), Reason: reason, Data: data, GeneratedAt: now}
	return nil
}

// validType reports whether t matches [a-z][a-z0-9_]*.
func validType(t string) bool {
	if t == "" || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if c := t[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func fromEpoch(f float64) time.Time {
	return time.Unix(0, int64(f*1e9)).UTC()
}

// Snapshot implements Stateful: every group's kind state and last firing.
func (in *Instance) Snapshot() (json.RawMessage, error) {
	type g struct {
		Key       string          `json:"key"`
		LastFired *time.Time      `json:"last_fired,omitempty"`
		State     json.RawMessage `json:"state"`
	}
	out := struct {
		Groups []g `json:"groups"`
	}{Groups: []g{}}
	for _, k := range in.order {
		ge := in.groups[k]
		st, err := ge.g.MarshalJSON()
		if err != nil {
			return nil, err
		}
		e := g{Key: k, State: st}
		if !ge.lastFired.IsZero() {
			t := ge.lastFired
			e.LastFired = &t
		}
		out.Groups = append(out.Groups, e)
	}
	return json.Marshal(out)
}

// Restore implements Stateful. It replaces the instance's state.
func (in *Instance) Restore(b json.RawMessage) error {
	var st struct {
		Groups []struct {
			Key       string          `json:"key"`
			LastFired *time.Time      `json:"last_fired"`
			State     json.RawMessage `json:"state"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("rules: restore %s: %w", in.c.name, err)
	}
	groups := map[string]*groupEntry{}
	var order []string
	for _, e := range st.Groups {
		g := in.c.kind.newGroup(time.Time{})
		if err := g.UnmarshalJSON(e.State); err != nil {
			return fmt.Errorf("rules: restore %s group %q: %w", in.c.name, e.Key, err)
		}
		ge := &groupEntry{g: g}
		if e.LastFired != nil {
			ge.lastFired = *e.LastFired
		}
		if _, dup := groups[e.Key]; !dup {
			order = append(order, e.Key)
		}
		groups[e.Key] = ge
	}
	in.groups, in.order = groups, order
	return nil
}
