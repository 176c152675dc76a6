// Package rules holds the observer's rules, one per file, each registering
// itself by name (Caddy's RegisterModule, telegraf's inputs.Add).
//
// A rule is pure logic: it is handed events and the time, and returns the
// intents it proposes. It owns no goroutine, timer or clock, so the
// data-driven tests in testdata/<rule>/<case>/ drive it with a fake clock and
// never sleep. The generic rule actor (actor.go) wraps one Rule: it feeds it
// events from the dispatcher, ticks it on its own timer for windows and
// absence detection, and sends what it returns to the emitter.
package rules

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

// Rule is the logic of one rule.
type Rule interface {
	// Subscribes lists the event types the dispatcher sends to this rule.
	Subscribes() []string
	// OnEvent handles one event observed at now.
	OnEvent(ev *messages.Event, now time.Time) []messages.Intent
	// TickEvery is how often OnTick must run; 0 means never.
	TickEvery() time.Duration
	// OnTick lets the rule act on time passing (windows, absence).
	OnTick(now time.Time) []messages.Intent
}

// Factory builds a rule from its YAML settings (nil: all defaults). Unknown
// keys and bad values are errors naming the key and the value.
type Factory func(cfg *yaml.Node) (Rule, error)

var (
	mu        sync.Mutex
	factories = map[string]Factory{}
)

// Register adds a rule factory under name. It panics on a duplicate name.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic(fmt.Sprintf("rules: Register called twice for %q", name))
	}
	factories[name] = f
}

// Names returns every registered rule name, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds the named rule.
func New(name string, cfg *yaml.Node) (Rule, error) {
	mu.Lock()
	f, ok := factories[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("rules: unknown rule %q (known: %v)", name, Names())
	}
	r, err := f(cfg)
	if err != nil {
		return nil, fmt.Errorf("rules.%s: %w", name, err)
	}
	return r, nil
}
