package supervision

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/dispatch"

	"github.com/asynkron/protoactor-go/actor"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/rules"
)

// ruleSpecs declares the rules group (one actor per registered rule) and the
// dispatcher that routes events to them. A rule's settings come from
// rules.<name> in the config; a key naming no rule is a start-up error.
func ruleSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	names := rules.Names()
	if err := validateRules(config.NewChecker(c.lines).At("rules"), c.Rules).Err(); err != nil {
		return nil, err
	}
	routes := map[string][]*actor.PID{}
	var pids []*actor.PID
	var leaves []ChildSpec
	emitter := b.PID("emitter")
	for _, name := range names {
		var node *yaml.Node
		if n, ok := c.Rules[name]; ok {
			node = &n
		}
		r, err := rules.New(name, node)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		pid := b.PID("rules/" + name)
		pids = append(pids, pid)
		for _, typ := range r.Subscribes() {
			routes[typ] = append(routes[typ], pid)
		}
		factory := func() (rules.Rule, error) { return rules.New(name, node) }
		leaves = append(leaves, b.Leaf(name, PhaseRules, c.Supervision.MailboxSize,
			fmt.Sprintf("on %v", r.Subscribes()),
			rules.NewActor(name, factory, emitter, b.Deps.Clock, b.Deps.Logger, b.Deps.Stream)))
	}
	return []ChildSpec{
		b.Group("rules", "one actor per rule", leaves...),
		b.Leaf("dispatcher", PhaseRoute, c.Supervision.MailboxSize, "dedup and route events to rules",
			dispatch.New(dispatch.Config{DedupWindow: c.Dispatcher.DedupWindow, Routes: routes, Rules: pids}, b.Deps)),
	}, nil
}

// validateRules checks the rules: section the way the rules will read it at
// start: a key naming no rule (with the closest name), and each rule's
// settings built and checked.
func validateRules(v *config.Checker, settings map[string]yaml.Node) config.Problems {
	names := rules.Names()
	keys := make([]string, 0, len(settings))
	for n := range settings {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	for _, n := range keys {
		if !slices.Contains(names, n) {
			v.Bad(n, nil, config.UnknownKey(n, names))
			continue
		}
		node := settings[n]
		if _, err := rules.New(n, &node); err != nil {
			v.Bad(n, nil, strings.TrimPrefix(err.Error(), "rules."+n+": "))
		}
	}
	return v.Problems()
}
