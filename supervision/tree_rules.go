package supervision

import (
	"fmt"
	"path/filepath"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/rules"
)

// ruleSpecs declares the rules group (one actor per rule of the rule set:
// rules_files / --rules, else the embedded default file) and the dispatcher that routes events to them.
// A rule's parameters may be overridden from rules.<name> in the config; a
// key naming no rule, or no parameter of it, is a start-up error.
func ruleSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	overrides := map[string]any{}
	for name, n := range c.Rules {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("config: rules.%s: %w", name, err)
		}
		overrides[name] = v
	}
	set, err := rules.Load(c.RulesFiles, overrides)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Windows and cooldowns saved by the last run, for the rules whose
	// definition did not change; a bad checkpoint is logged and ignored.
	saved, err := rules.ReadCheckpoint(filepath.Join(c.StateDir, "rules", rules.CheckpointName))
	if err != nil {
		b.Deps.Logger.Warn("rule checkpoint ignored", "err", err)
	}
	states := rules.Applicable(saved, set, b.Deps.Logger)
	routes := map[string][]*actor.PID{}
	var pids []*actor.PID
	var leaves []ChildSpec
	emitter := b.PID("emitter")
	for _, r := range set.Rules() {
		name := r.Name()
		pid := b.PID("rules/" + name)
		pids = append(pids, pid)
		for _, typ := range r.Subscribes() {
			routes[typ] = append(routes[typ], pid)
		}
		factory := rules.Factory(r, states[name], b.Deps.Logger)
		leaves = append(leaves, b.Leaf(name, PhaseRules, c.Supervision.MailboxSize,
			fmt.Sprintf("%s on %v", r.Kind(), r.Subscribes()),
			rules.NewActor(name, factory, emitter, b.Deps.Clock, b.Deps.Logger)))
	}
	var spool *actor.PID
	if c.Spool.Enabled {
		spool = b.PID("spool")
	}
	return []ChildSpec{
		b.Group("rules", "one actor per rule", leaves...),
		b.Leaf("dispatcher", PhaseRoute, c.Supervision.MailboxSize, "dedup and route events to rules",
			actors.NewDispatcher(actors.DispatcherConfig{DedupWindow: c.Dispatcher.DedupWindow, Spool: spool, Routes: routes, Rules: pids}, b.Deps)),
	}, nil
}
