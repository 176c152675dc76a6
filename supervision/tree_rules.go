package supervision

import (
	"fmt"
	"sort"

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
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	var unknown []string
	for n := range c.Rules {
		if !known[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config: rules.%s: no such rule (known: %v)", unknown[0], names)
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
