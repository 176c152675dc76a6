package supervision

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/dispatch"
	"github.com/kloros/kloros-observer/actors/rules"
)

// ruleSpecs declares the rules group (one actor per rule of the rule set:
// rules_files / --rules, else the embedded default file) and the dispatcher
// that routes events to them. A rule's parameters may be overridden from
// rules.<name> in the config; a key naming no rule, or no parameter of it,
// is a start-up error. Rule windows and cooldowns saved by the last run are
// restored for the rules whose definition did not change.
func ruleSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	set, err := loadRules(c.RulesFiles, c.Rules)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	saved, err := rules.ReadCheckpoint(filepath.Join(c.StateDir, "rules", rules.CheckpointName))
	if err != nil {
		b.Deps.Logger.Warn("rule checkpoint ignored", "err", err)
	}
	states := rules.Applicable(saved, set, b.Deps.Logger)
	b.Deps.Metrics.Rules.Reloaded(true, float64(time.Now().UnixNano())/1e9)
	// The dispatcher starts with the routes to the first actors, whose
	// PIDs are known now (rules/<name>); after a reload the manager sends it
	// new ones.
	routes := map[string][]*actor.PID{}
	var pids []*actor.PID
	for _, r := range set.Rules() {
		pid := b.PID("rules/" + r.Name())
		pids = append(pids, pid)
		for _, typ := range r.Subscribes() {
			routes[typ] = append(routes[typ], pid)
		}
	}
	overrides, _ := ruleOverrides(c.Rules) // checked by loadRules above
	childProps := func(p actor.Producer) *actor.Props {
		return actor.PropsFromProducer(p, actor.WithSupervisor(b.Policy),
			actor.WithMailbox(b.Mailboxes.Bounded("rule", c.Supervision.MailboxSize)))
	}
	metrics := b.Deps.Metrics.Rules
	manager := b.Leaf("rules", PhaseRules, 0, fmt.Sprintf("%d rules from %s; one child actor per rule; reload: SIGHUP, POST /-/reload, file change",
		len(pids), describeRuleFiles(c.RulesFiles)),
		rules.NewManager(rules.ManagerConfig{
			Files: c.RulesFiles, Overrides: overrides, Initial: set, States: states,
			Emitter: b.PID("emitter"), Dispatcher: b.PID("dispatcher"), ChildProps: childProps,
			CheckpointFile: filepath.Join(c.StateDir, "rules", rules.CheckpointName), Watch: true,
			OnReload: func(ok bool, at time.Time) { metrics.Reloaded(ok, float64(at.UnixNano())/1e9) },
			Live:     b.rulesLive(),
		}, b.Deps))
	manager.Drains = true
	return []ChildSpec{
		manager,
		b.Leaf("dispatcher", PhaseRoute, c.Supervision.MailboxSize, "dedup and route events to rules",
			dispatch.New(dispatch.Config{DedupWindow: c.Dispatcher.DedupWindow, Routes: routes, Rules: pids, AwaitRoutes: true, RoutesFrom: b.PID("rules")}, b.Deps)),
	}, nil
}

func describeRuleFiles(files []string) string {
	if len(files) == 0 {
		return rules.DefaultName
	}
	return strings.Join(files, ", ")
}

// ruleOverrides decodes the rules.<name> settings for the rule loader.
func ruleOverrides(settings map[string]yaml.Node) (map[string]any, error) {
	overrides := map[string]any{}
	for name, n := range settings {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("rules.%s: %w", name, err)
		}
		overrides[name] = v
	}
	return overrides, nil
}

// loadRules loads the rule set with the config's rules.<name> overrides.
func loadRules(files []string, settings map[string]yaml.Node) (*rules.Set, error) {
	overrides, err := ruleOverrides(settings)
	if err != nil {
		return nil, err
	}
	return rules.Load(files, overrides)
}

// validateRules checks the rule files and the rules: section the way the
// daemon will load them at start: every problem of the files (file:line:col)
// under rules_files; an override naming no rule, no parameter of it, or a
// bad value under rules.<name>, with the lines of the config file.
func validateRules(v *config.Checker, files []string, settings map[string]yaml.Node) {
	_, err := loadRules(files, settings)
	if err == nil {
		return
	}
	var le *rules.LoadError
	if !errors.As(err, &le) {
		v.At("rules").Bad("", nil, err.Error())
		return
	}
	structured := map[string]bool{}
	for _, p := range le.Params {
		structured[p.Error()] = true
		where := p.Param
		if n := settings[p.Rule]; n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p.Param {
					where = fmt.Sprintf("%s (line %d)", p.Param, n.Content[i].Line)
				}
			}
		}
		if p.Unknown {
			v.At("rules").Bad(p.Rule, nil, where+": "+config.UnknownKey(p.Param, p.Known))
			continue
		}
		val := fmt.Sprint(p.Value)
		if s, ok := p.Value.(string); ok {
			val = fmt.Sprintf("%q", s)
		}
		v.At("rules").Bad(p.Rule, nil, fmt.Sprintf("%s = %s: %s", where, val, p.Why))
	}
	for _, name := range le.UnknownRules {
		structured[fmt.Sprintf("rules.%s: no such rule (known: %s)", name, strings.Join(le.Known, ", "))] = true
		v.At("rules").Bad(name, nil, config.UnknownKey(name, le.Known))
	}
	problems := append([]string(nil), le.Problems...)
	sort.Strings(problems)
	for _, p := range problems {
		if !structured[p] {
			v.Bad("rules_files", nil, p)
		}
	}
}
