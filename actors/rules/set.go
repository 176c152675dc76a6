package rules

import (
	"crypto/sha256"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// DefaultFile is the shipped rule file, embedded in the binary; `make
// install` may copy it to /etc/kloros/rules.d/default.yaml.
//
//go:embed default.yaml
var DefaultFile []byte

// DefaultName is how the embedded file is named in errors.
const DefaultName = "<embedded>/default.yaml"

// Set is a checked rule set, ready to run. It is immutable: a reload builds
// a new Set and swaps it in; rules whose Hash did not change keep their
// state.
type Set struct {
	rules []*Compiled
	byKey map[string]*Compiled
}

// Rules returns the set's rules in file order.
func (s *Set) Rules() []*Compiled { return append([]*Compiled(nil), s.rules...) }

// Rule returns the named rule (nil if absent).
func (s *Set) Rule(name string) *Compiled { return s.byKey[name] }

// Names returns the rule names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.rules))
	for _, r := range s.rules {
		out = append(out, r.name)
	}
	sort.Strings(out)
	return out
}

// Routes maps each event type to the rules that read it.
func (s *Set) Routes() map[string][]string {
	out := map[string][]string{}
	for _, r := range s.rules {
		for _, t := range r.on {
			out[t] = append(out[t], r.name)
		}
	}
	return out
}

// Load reads and checks rule files: each path is a file or a directory
// (its *.yaml and *.yml, sorted). No paths means the embedded default file.
// overrides are the main config's rules.<name> maps (parameter values, as
// decoded from YAML: map[string]any). Every problem of every file is
// reported at once, as file:line:col.
func Load(paths []string, overrides map[string]any) (*Set, error) {
	type src struct {
		name string
		body []byte
	}
	var srcs []src
	var problems []string
	if len(paths) == 0 {
		srcs = append(srcs, src{DefaultName, DefaultFile})
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		files := []string{p}
		if st.IsDir() {
			a, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
			b, _ := filepath.Glob(filepath.Join(p, "*.yml"))
			files = append(a, b...)
			sort.Strings(files)
			if len(files) == 0 {
				problems = append(problems, fmt.Sprintf("%s: no *.yaml rule files", p))
			}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", f, err))
				continue
			}
			srcs = append(srcs, src{f, b})
		}
	}
	ov, bad := splitOverrides(overrides)
	problems = append(problems, bad...)
	set := &Set{byKey: map[string]*Compiled{}}
	where := map[string]string{}
	defined := map[string]bool{}
	var params []*ParamProblem
	// Files parse and compile concurrently; their results are merged in
	// order, so problems and duplicates read as a sequential load's.
	type parsedFile struct {
		rules []*Compiled
		errs  *errList
	}
	parsedFiles := make([]parsedFile, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Go(func() {
			rules, errs := parseFileCached(s.name, s.body, ov)
			parsedFiles[i] = parsedFile{rules, errs}
		})
	}
	wg.Wait()
	for _, pf := range parsedFiles {
		rules, errs := pf.rules, pf.errs
		problems = append(problems, errs.errs...)
		params = append(params, errs.params...)
		for _, n := range errs.names {
			defined[n] = true
		}
		for _, r := range rules {
			if prev, dup := where[r.name]; dup {
				problems = append(problems, fmt.Sprintf("%s: rule %q: also defined at %s", r.Source(), r.name, prev))
				continue
			}
			where[r.name] = r.Source()
			set.rules = append(set.rules, r)
			set.byKey[r.name] = r
		}
	}
	known := make([]string, 0, len(defined))
	for n := range defined {
		known = append(known, n)
	}
	sort.Strings(known)
	var unknown []string
	for name := range ov {
		if !defined[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, p := range params {
		problems = append(problems, p.Error())
	}
	for _, name := range unknown {
		problems = append(problems, fmt.Sprintf("rules.%s: no such rule (known: %s)", name, strings.Join(known, ", ")))
	}
	if len(problems) > 0 {
		return nil, &LoadError{Problems: problems, Params: params, UnknownRules: unknown, Known: known}
	}
	return set, nil
}

func splitOverrides(o map[string]any) (map[string]map[string]any, []string) {
	out := map[string]map[string]any{}
	var bad []string
	for name, v := range o {
		switch m := v.(type) {
		case nil:
			out[name] = map[string]any{}
		case map[string]any:
			out[name] = m
		default:
			bad = append(bad, fmt.Sprintf("rules.%s: want a mapping of parameter: value, got %T", name, v))
		}
	}
	return out, bad
}

// parseFileCached reuses the rules of a file whose bytes and overrides did
// not change since the last load (a reload of rules.d re-reads only the
// files that changed).
func parseFileCached(name string, body []byte, ov map[string]map[string]any) ([]*Compiled, *errList) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", name)
	h.Write(body)
	names := make([]string, 0, len(ov))
	for k := range ov {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		keys := make([]string, 0, len(ov[n]))
		for k := range ov[n] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "\x00%s.%s=%T:%v", n, k, ov[n][k], ov[n][k])
		}
	}
	key := string(h.Sum(nil))
	cacheMu.Lock()
	hit, ok := fileCache[key]
	cacheMu.Unlock()
	if ok {
		return hit.rules, &errList{names: hit.names}
	}
	rules, errs := parseFile(name, body, ov)
	if len(errs.errs) == 0 && len(errs.params) == 0 {
		cacheMu.Lock()
		if len(fileCache) >= 1000 {
			clear(fileCache)
		}
		fileCache[key] = cachedFile{rules: rules, names: errs.names}
		cacheMu.Unlock()
	}
	return rules, errs
}

// parseFile checks one rule file whole.
func parseFile(name string, body []byte, ov map[string]map[string]any) ([]*Compiled, *errList) {
	errs := &errList{file: name}
	doc, err := parseYAML(body)
	if err != nil {
		errs.add(0, 0, err.Error())
		return nil, errs
	}
	if len(doc.Content) == 0 {
		errs.add(1, 1, "empty rule file (want rules: [...])")
		return nil, errs
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		errs.at(root, 0, "want a mapping with rules: [...]")
		return nil, errs
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k := root.Content[i]; k.Value {
		case "rules":
			list = root.Content[i+1]
		case "version":
			if v := root.Content[i+1]; v.Value != "1" {
				errs.at(v, 0, fmt.Sprintf("version %q: this build reads version 1", v.Value))
			}
		default:
			errs.at(k, 0, fmt.Sprintf("unknown top-level field %q (want version, rules)", k.Value))
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		errs.at(root, 0, "no rules: list")
		return nil, errs
	}
	// Rules compile independently (each into its own error list, merged in
	// file order below), so a file's rules compile on every CPU.
	type result struct {
		key  string
		c    *Compiled
		errs *errList
		hit  bool
	}
	res := make([]result, len(list.Content))
	var todo []int
	for i, n := range list.Content {
		var o map[string]any
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "name" {
				o = ov[n.Content[j+1].Value]
			}
		}
		res[i].key = cacheKey(name, n, o)
		if c := cached(res[i].key); c != nil {
			res[i].c, res[i].hit = c, true
			continue
		}
		todo = append(todo, i)
	}
	compileOne := func(i int) {
		n := list.Content[i]
		var o map[string]any
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "name" {
				o = ov[n.Content[j+1].Value]
			}
		}
		e := &errList{file: name}
		res[i].c = compileRule(name, n, o, e)
		res[i].errs = e
	}
	if workers := min(runtime.GOMAXPROCS(0), len(todo)); workers > 1 {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					k := int(next.Add(1)) - 1
					if k >= len(todo) {
						return
					}
					compileOne(todo[k])
				}
			})
		}
		wg.Wait()
	} else {
		for _, i := range todo {
			compileOne(i)
		}
	}
	var out []*Compiled
	seen := map[string]int{}
	for i, n := range list.Content {
		r := res[i]
		c := r.c
		if r.hit {
			errs.names = append(errs.names, c.name)
		} else {
			errs.errs = append(errs.errs, r.errs.errs...)
			errs.params = append(errs.params, r.errs.params...)
			errs.names = append(errs.names, r.errs.names...)
			if c == nil {
				continue
			}
			if len(r.errs.params) == 0 { // a rule whose overrides do not fit is not cached
				remember(r.key, c)
			}
		}
		if line, dup := seen[c.name]; dup {
			errs.add(n.Line, n.Column, fmt.Sprintf("rule %q: also defined at line %d", c.name, line))
			continue
		}
		seen[c.name] = n.Line
		out = append(out, c)
	}
	return out, errs
}

var defaultSet = sync.OnceValue(func() *Set {
	s, err := Load(nil, nil)
	if err != nil {
		panic("rules: the embedded default rule file does not load: " + err.Error())
	}
	return s
})

// A compiled rule is immutable, so a reload reuses the rules whose text,
// place and overrides did not change instead of compiling them again. The
// cache holds what the last loads compiled, bounded by maxCached.
var (
	cacheMu   sync.Mutex
	cache     = map[string]*Compiled{}
	fileCache = map[string]cachedFile{}
	maxCached = 20000
)

type cachedFile struct {
	rules []*Compiled
	names []string
}

func cacheKey(file string, n *yaml.Node, over map[string]any) string {
	h := sha256.New()
	b := append([]byte(file), 0)
	b = strconv.AppendInt(b, int64(n.Line), 10)
	b = appendNode(append(b, 0), n)
	h.Write(b)
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s=%T:%v", k, over[k], over[k])
	}
	return string(h.Sum(nil))
}

func cached(key string) *Compiled {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	return cache[key]
}

func remember(key string, c *Compiled) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if len(cache) >= maxCached {
		clear(cache)
	}
	cache[key] = c
}

// Default is the embedded default rule set with no overrides (loaded once;
// a Set is immutable).
func Default() *Set { return defaultSet() }

// Names returns the rules of the embedded default set, sorted.
func Names() []string { return Default().Names() }

// New builds a fresh instance of a rule of the embedded default set, with
// the main config's rules.<name> settings (nil: defaults) applied. It keeps
// the API older callers (the pipeline benchmark) use.
func New(name string, cfg *yaml.Node) (Rule, error) {
	if cfg == nil || cfg.Kind == 0 {
		if c := Default().Rule(name); c != nil {
			return c.New(), nil
		}
	}
	var o any
	if cfg != nil && cfg.Kind != 0 {
		if err := cfg.Decode(&o); err != nil {
			return nil, fmt.Errorf("rules.%s: %w", name, err)
		}
	}
	s, err := Load(nil, map[string]any{name: o})
	if err != nil {
		return nil, err
	}
	return s.Rule(name).New(), nil
}

// Diff compares a running set with a newly loaded one, for a reload: kept
// rules (same name and Hash) keep their actors and state, changed ones are
// replaced (their state dropped), added ones start, removed ones stop.
func Diff(old, next *Set) (kept, changed, added, removed []string) {
	for _, c := range next.rules {
		switch o := old.Rule(c.name); {
		case o == nil:
			added = append(added, c.name)
		case o.hash == c.hash:
			kept = append(kept, c.name)
		default:
			changed = append(changed, c.name)
		}
	}
	for _, o := range old.rules {
		if next.Rule(o.name) == nil {
			removed = append(removed, o.name)
		}
	}
	return kept, changed, added, removed
}
