package supervision

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/actors/emit"
	"github.com/kloros/kloros-observer/actors/rules"

	"github.com/asynkron/protoactor-go/actor"
)

// RootName is the id of the root supervisor; every actor's PID id is
// RootName/<group>/<name>, so PIDs are known before anything is spawned and
// stay the same across restarts.
const RootName = "kloros"

// Phase orders the drain at shutdown: Run drains every leaf of one phase (a
// PoisonPill behind what is already in its mailbox) before the next.
type Phase int

// Shutdown phases, in the order they are drained.
const (
	PhaseInput   Phase = iota // sources: stop producing first
	PhaseRoute                // the dispatcher
	PhaseRules                // rules and the zooid registry
	PhaseOutput               // emitter, spool, ChemBus publisher
	PhaseSupport              // housekeeping, HTTP, systemd notifier
)

func (p Phase) String() string {
	return [...]string{"input", "route", "rules", "output", "support"}[p]
}

// ChildSpec declares one node of the supervision tree: a leaf actor (Props
// set) or a group supervisor (Children set), which starts its children in
// order and supervises them with Policy.
type ChildSpec struct {
	Name     string
	Props    *actor.Props
	Children []ChildSpec
	Phase    Phase
	// Mailbox is the bound of the leaf's mailbox; 0 means protoactor's
	// unbounded default (for actors no source can flood).
	Mailbox int
	// Doc says in a few words what the node does (printed by --print-tree).
	Doc string
	// Drains: at shutdown the leaf is sent messages.Drain and answers
	// Drained once its own children finished their work (the rules
	// manager), instead of a PoisonPill that would stop them at once.
	Drains bool
}

// Builder makes ChildSpecs with the daemon's mailboxes and restart policy.
type Builder struct {
	System    *actor.ActorSystem
	Config    *Config
	Deps      actors.Deps
	Mailboxes *Mailboxes
	Policy    *RestartPolicy
	// Hooks lets tests and the systemd notifier observe the tree.
	Hooks Hooks
	// Ready is set once every actor of the tree has started (/readyz).
	Ready *atomic.Bool
	// Stop asks Run to shut the tree down in order, as a cancelled context
	// does (exit 0); an actor that must end the daemon calls it (nil: no-op).
	Stop func(reason string)

	bus    *chembus.Watermark // shared by the ChemBus actor and the registry
	live   *rules.Live        // the rules manager's running set, for the web API
	web    webParts           // shared by the HTTP actor and the registry (tree_web.go)
	health *emit.Health       // shared by the emitter and /readyz
}

// busWatermark returns the one watermark the ChemBus actor and the zooid
// registry share.
func (b *Builder) busWatermark() *chembus.Watermark {
	if b.bus == nil {
		b.bus = chembus.NewWatermark()
	}
	return b.bus
}

// rulesLive returns the one Live the rules manager and the web share.
func (b *Builder) rulesLive() *rules.Live {
	if b.live == nil {
		b.live = &rules.Live{}
	}
	return b.live
}

// PID returns the PID of the actor at path below the root, e.g. "emitter"
// or "rules/gpu_oom".
func (b *Builder) PID(path string) *actor.PID {
	return actor.NewPID(b.System.Address(), RootName+"/"+path)
}

// Leaf declares a leaf actor. bound > 0 gives it a bounded mailbox of that
// size (use b.Config.Supervision.MailboxSize for anything a source can flood).
// The actor also supervises any children it spawns with the daemon's policy.
func (b *Builder) Leaf(name string, phase Phase, bound int, doc string, producer actor.Producer) ChildSpec {
	opts := append([]actor.PropsOption{actor.WithSupervisor(b.Policy)}, chaosOptions()...)
	if bound > 0 {
		opts = append(opts, actor.WithMailbox(b.Mailboxes.Bounded(KindOf(name), bound)))
	}
	return ChildSpec{Name: name, Phase: phase, Mailbox: bound, Doc: doc, Props: actor.PropsFromProducer(producer, opts...)}
}

// Group declares a supervisor over children.
func (b *Builder) Group(name, doc string, children ...ChildSpec) ChildSpec {
	spec := ChildSpec{Name: name, Children: children, Doc: doc}
	spec.Props = actor.PropsFromProducer(func() actor.Actor { return &group{spec: &spec} },
		actor.WithSupervisor(b.Policy))
	return spec
}

// group is a supervisor actor: it spawns its children in declared order on
// Started. protoactor stops all children before restarting or stopping a
// group, so a restarted group starts a fresh set.
type group struct{ spec *ChildSpec }

func (g *group) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Wedge:
		<-m.Release // test hook: a wedged supervisor (see systemd.go)
	case *actor.Started:
		for _, c := range g.spec.Children {
			if _, err := ctx.SpawnNamed(c.Props, c.Name); err != nil {
				panic(fmt.Errorf("spawn %s/%s: %w", g.spec.Name, c.Name, err))
			}
		}
	}
}

// Leaves returns the paths (below the root) of every leaf in phase p.
func (s *ChildSpec) Leaves(prefix string, p Phase) []string {
	var out []string
	for _, c := range s.leaves(prefix, p) {
		out = append(out, c.path)
	}
	return out
}

type leaf struct {
	path string
	spec *ChildSpec
}

func (s *ChildSpec) leaves(prefix string, p Phase) []leaf {
	var out []leaf
	for i := range s.Children {
		c := &s.Children[i]
		path := c.Name
		if prefix != "" {
			path = prefix + "/" + c.Name
		}
		if c.Children != nil {
			out = append(out, c.leaves(path, p)...)
		} else if c.Phase == p {
			out = append(out, leaf{path, c})
		}
	}
	return out
}

// Print draws the tree, one node per line.
func (s *ChildSpec) Print(w io.Writer, p *RestartPolicy) {
	fmt.Fprintf(w, "%s  (root supervisor; an escalation here exits the process non-zero)\n", s.Name)
	fmt.Fprintf(w, "  strategy: one-for-one, backoff %s..%s x2 ±50%% jitter, at most %d restarts per %s then stop+escalate\n",
		p.BackoffInitial, p.BackoffMax, p.MaxRestarts, p.Window)
	s.print(w, 1)
}

func (s *ChildSpec) print(w io.Writer, depth int) {
	for i, c := range s.Children {
		branch := "├── "
		if i == len(s.Children)-1 {
			branch = "└── "
		}
		ind := strings.Repeat("│   ", depth-1)
		if c.Children != nil {
			fmt.Fprintf(w, "%s%s%s/  (group) %s\n", ind, branch, c.Name, c.Doc)
			c.print(w, depth+1)
			continue
		}
		mb := "unbounded"
		if c.Mailbox > 0 {
			mb = fmt.Sprintf("bounded %d", c.Mailbox)
		}
		fmt.Fprintf(w, "%s%s%s  [mailbox %s, drained in phase %s] %s\n", ind, branch, c.Name, mb, c.Phase, c.Doc)
	}
}

// BuildTree declares the whole daemon. Each area declares its children in its
// own function (in its own file, tree_<area>.go), listed here in start order:
// outputs before the actors that send to them, sources last. Stop order is by
// Phase, not by this list.
func BuildTree(b *Builder) (ChildSpec, error) {
	var children []ChildSpec
	for _, part := range []func(*Builder) ([]ChildSpec, error){
		emitterSpecs,     // tree_emitter.go: emitter
		spoolSpecs,       // tree_spool.go: spool (when enabled), housekeeping
		chembusSpecs,     // tree_chembus.go: chembus (socket owner, embedded proxy)
		zooidSpecs,       // tree_zooids.go: zooid registry, one watcher per zooid
		ruleSpecs,        // tree_rules.go: rules group, dispatcher
		sourceGroupSpecs, // below: the sources group
		supportSpecs,     // tree_support.go: HTTP endpoint, systemd notifier
	} {
		cs, err := part(b)
		if err != nil {
			return ChildSpec{}, err
		}
		children = append(children, cs...)
	}
	root := b.Group(RootName, "root", children...)
	b.web.root = &root
	return root, nil
}

// sourceGroupSpecs groups every source under "sources", so a failing source
// is restarted alone and a source group past its limit is restarted whole.
func sourceGroupSpecs(b *Builder) ([]ChildSpec, error) {
	var srcs []ChildSpec
	for _, part := range []func(*Builder) ([]ChildSpec, error){
		fswatchSources,      // tree_fswatch.go
		journaldSources,     // tree_journald.go
		scrapeSources,       // tree_scrape.go
		deadletterSources,   // tree_deadletter.go
		systemdAuditSources, // tree_systemdaudit.go
	} {
		cs, err := part(b)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, cs...)
	}
	if len(srcs) == 0 {
		return nil, nil
	}
	return []ChildSpec{b.Group("sources", "event sources", srcs...)}, nil
}
