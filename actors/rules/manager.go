package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fsnotify/fsnotify"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// ManagerConfig is what the rules manager runs with (built by the tree).
type ManagerConfig struct {
	Files     []string       // rule files or directories (none: the embedded default)
	Overrides map[string]any // rules.<name> settings from the main config
	// Initial is the set loaded (and checked) when the tree was built;
	// States the checkpointed state of its unchanged rules.
	Initial *Set
	States  map[string]json.RawMessage

	Emitter, Dispatcher *actor.PID
	// ChildProps makes a rule actor's props (bounded mailbox, the daemon's
	// restart policy).
	ChildProps func(producer actor.Producer) *actor.Props

	CheckpointFile  string        // "" : no checkpoints
	CheckpointEvery time.Duration // 0: 10 s
	// Watch reloads when a rule file changes on disk, after Debounce
	// (0: 1 s) of quiet.
	Watch    bool
	Debounce time.Duration
	// OnReload, if set, is told the outcome of every reload (metrics).
	OnReload func(ok bool, at time.Time)
	// Live, if set, always holds the running set and its actors, for
	// readers outside the actor system (the web API asks them for state).
	Live *Live
}

// Live is the rules manager's current set and actors, published for
// readers outside the actor (the web API). Safe for concurrent use.
type Live struct{ p atomic.Pointer[liveView] }

type liveView struct {
	set  *Set
	pids []*actor.PID // in set order
}

// Current returns the running set and its actors (nil before the start).
func (l *Live) Current() (*Set, []*actor.PID) {
	if v := l.p.Load(); v != nil {
		return v.set, v.pids
	}
	return nil, nil
}

func (m *Manager) publish() {
	if m.cfg.Live != nil {
		m.cfg.Live.p.Store(&liveView{set: m.set, pids: m.current()})
	}
}

// Manager owns the rule set and one child actor per rule.
//
// Receives: *messages.ReloadRules (SIGHUP, systemctl reload, POST /-/reload,
// or its own file watch) → loads the files on a goroutine, checks the whole
// set, and only then swaps it in: rules whose definition did not change keep
// their actor and state; changed and added rules get new actors; the
// dispatcher is sent *messages.RoutesChanged naming the actors to retire,
// so events before the swap reach the old rules and events after it the new
// ones, none lost or handled twice. A bad set keeps the old one running and
// answers *messages.ReloadRulesResult with every problem.
// *messages.Drain (at shutdown) → each rule finishes its mailbox, the
// state is checkpointed, the rules stop, then Drained.
// Every CheckpointEvery it saves the rules' windows and cooldowns
// (atomically, only when they changed), so a restart or a watchdog kill
// never makes a rule fire twice for one situation.
//
// Owns: a file watcher and its goroutine (Watch), a checkpoint timer, at
// most one loader and one checkpoint goroutine; all released on Stopping
// and Restarting. A restarted manager starts again from Initial plus the
// last checkpoint.
type Manager struct {
	cfg    ManagerConfig
	deps   actors.Deps
	log    *slog.Logger
	shared *managerShared

	set      *Set
	files    []string
	ov       map[string]any
	pids     map[string]*actor.PID // rule name → its current actor
	gen      int
	loading  bool
	queued   []pendingReload
	saving   bool
	lastSave []byte

	stopTick  timer.Cancel
	stopWatch func()
	debounce  timer.Cancel
	draining  *actor.PID
}

// managerShared outlives one incarnation: a manager restarted after a
// panic runs the set that was last swapped in, not the one of the start.
type managerShared struct {
	set     *Set
	files   []string
	ov      map[string]any
	started bool
}

type pendingReload struct {
	req   *messages.ReloadRules
	reply *actor.PID
}

type loaded struct {
	set   *Set
	err   error
	files []string
	ov    map[string]any
	reply *actor.PID
	why   string
}

type checkpointTick struct{}
type checkpointed struct {
	body []byte
	err  error
}
type fileChanged struct{ name string }
type debounced struct{}
type drainDone struct{ err error }

func (checkpointTick) NotInfluenceReceiveTimeout() {}

// NewManager returns the rules manager's producer.
func NewManager(cfg ManagerConfig, deps actors.Deps) actor.Producer {
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 10 * time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = time.Second
	}
	shared := &managerShared{set: cfg.Initial, files: cfg.Files, ov: cfg.Overrides}
	return func() actor.Actor { return &Manager{cfg: cfg, deps: deps, shared: shared} }
}

// Receive implements actor.Actor.
func (m *Manager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		m.release()
	case *messages.ReloadRules:
		m.reload(ctx, msg, ctx.Sender())
	case *messages.RoutesRequest:
		ctx.Respond(m.routesMsg(nil))
	case *loaded:
		m.swap(ctx, msg)
	case fileChanged:
		if m.debounce != nil {
			m.debounce()
		}
		m.debounce = timer.Once(ctx.ActorSystem(), m.cfg.Debounce, ctx.Self(), debounced{})
	case debounced:
		m.debounce = nil
		m.reload(ctx, &messages.ReloadRules{Reason: "a rule file changed"}, nil)
	case checkpointTick:
		m.checkpoint(ctx, nil)
	case *checkpointed:
		m.saving = false
		if msg.err != nil {
			m.log.Error("cannot checkpoint rule state; retrying at the next tick", "file", m.cfg.CheckpointFile, "err", msg.err)
		} else if msg.body != nil {
			m.lastSave = msg.body
		}
	case *messages.Drain:
		m.drain(ctx)
	case *drainDone:
		if msg.err != nil {
			m.log.Warn("rule state not fully saved at shutdown", "err", msg.err)
		}
		if m.draining != nil {
			ctx.Send(m.draining, &messages.Drained{})
		}
		ctx.Stop(ctx.Self())
	case *actors.GoroutineFailed:
		panic(msg.Err)
	default:
		actors.Unhandled(m.log, msg)
	}
}

func (m *Manager) start(ctx actor.Context) {
	m.log = m.deps.Logger.With("actor", "rules")
	m.set, m.files, m.ov = m.shared.set, m.shared.files, m.shared.ov
	states := m.cfg.States
	if m.shared.started {
		states = nil // restarted: the state is suspect
	}
	m.shared.started = true
	m.pids = map[string]*actor.PID{}
	for _, r := range m.set.Rules() {
		m.spawn(ctx, r, states[r.Name()])
	}
	// The dispatcher was built with these routes; after a restart of this
	// manager it must learn the new actors.
	m.routes(ctx, nil)
	m.publish()
	if m.cfg.CheckpointFile != "" {
		m.stopTick = timer.Every(ctx.ActorSystem(), m.cfg.CheckpointEvery, m.cfg.CheckpointEvery, ctx.Self(), checkpointTick{})
	}
	if m.cfg.Watch {
		m.watch(ctx)
	}
	m.log.Info("rules running", "rules", len(m.pids), "files", describeFiles(m.files))
}

func (m *Manager) release() {
	if m.stopTick != nil {
		m.stopTick()
		m.stopTick = nil
	}
	if m.debounce != nil {
		m.debounce()
		m.debounce = nil
	}
	if m.stopWatch != nil {
		m.stopWatch()
		m.stopWatch = nil
	}
}

// spawn starts the actor of rule r. The first generation is named after
// the rule; a replacement gets ":<gen>" (metrics count it by rule name).
func (m *Manager) spawn(ctx actor.Context, r *Compiled, state json.RawMessage) {
	name := r.Name()
	id := name
	if _, exists := m.pids[name]; exists || m.gen > 0 {
		id = fmt.Sprintf("%s:%d", name, m.gen)
	}
	producer := NewActor(name, Factory(r, state, m.deps.Logger), m.cfg.Emitter, m.deps.Clock, m.deps.Logger, m.deps.Stream)
	pid, err := ctx.SpawnNamed(m.cfg.ChildProps(producer), id)
	if err != nil {
		panic(fmt.Errorf("spawn rule %s: %w", id, err))
	}
	m.pids[name] = pid
}

// routes sends the dispatcher the current routes, retiring the given actors.
func (m *Manager) routes(ctx actor.Context, retire []*actor.PID) {
	ctx.Send(m.cfg.Dispatcher, m.routesMsg(retire))
}

func (m *Manager) routesMsg(retire []*actor.PID) *messages.RoutesChanged {
	routes := map[string][]*actor.PID{}
	all := make([]*actor.PID, 0, len(m.pids))
	for _, r := range m.set.Rules() {
		pid := m.pids[r.Name()]
		all = append(all, pid)
		for _, t := range r.Subscribes() {
			routes[t] = append(routes[t], pid)
		}
	}
	return &messages.RoutesChanged{Routes: routes, Rules: all, Retire: retire}
}

func (m *Manager) reload(ctx actor.Context, req *messages.ReloadRules, reply *actor.PID) {
	if m.loading || m.draining != nil {
		m.queued = append(m.queued, pendingReload{req, reply})
		return
	}
	files, ov := m.files, m.ov
	if req.SetFiles {
		files = req.Files
	}
	if req.SetOverrides {
		ov = req.Overrides
	}
	m.loading = true
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer actors.Recover("rules loader", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		set, err := Load(files, ov)
		root.Send(self, &loaded{set: set, err: err, files: files, ov: ov, reply: reply, why: req.Reason})
	}()
}

func (m *Manager) swap(ctx actor.Context, l *loaded) {
	m.loading = false
	defer m.next(ctx)
	now := m.deps.Clock.Now()
	if l.err != nil {
		m.log.Error("rule reload refused; the running rules stay", "reason", l.why, "err", l.err)
		m.report(false, now)
		m.answer(ctx, l.reply, &messages.ReloadRulesResult{Err: l.err.Error()})
		return
	}
	kept, changed, added, removed := Diff(m.set, l.set)
	m.files, m.ov = l.files, l.ov
	m.shared.set, m.shared.files, m.shared.ov = l.set, l.files, l.ov
	res := &messages.ReloadRulesResult{OK: true, Kept: kept, Changed: changed, Added: added, Removed: removed}
	if len(changed)+len(added)+len(removed) == 0 {
		m.set = l.set // same definitions; keep the actors
		m.publish()
		m.log.Info("rules reloaded: nothing changed", "reason", l.why, "rules", len(kept))
		m.report(true, now)
		m.answer(ctx, l.reply, res)
		return
	}
	m.gen++
	var retire []*actor.PID
	for _, name := range slices.Concat(changed, removed) {
		retire = append(retire, m.pids[name])
		delete(m.pids, name)
	}
	m.set = l.set
	for _, name := range slices.Concat(changed, added) {
		m.spawn(ctx, l.set.Rule(name), nil)
	}
	m.routes(ctx, retire)
	m.publish()
	m.lastSave = nil // the next checkpoint is written whatever it holds
	m.log.Info("rules reloaded", "reason", l.why, "kept", strings.Join(kept, ","), "changed", strings.Join(changed, ","),
		"added", strings.Join(added, ","), "removed", strings.Join(removed, ","))
	m.report(true, now)
	m.answer(ctx, l.reply, res)
}

func (m *Manager) next(ctx actor.Context) {
	if len(m.queued) == 0 || m.draining != nil {
		return
	}
	p := m.queued[0]
	m.queued = m.queued[1:]
	m.reload(ctx, p.req, p.reply)
}

func (m *Manager) report(ok bool, at time.Time) {
	if m.cfg.OnReload != nil {
		m.cfg.OnReload(ok, at)
	}
}

func (m *Manager) answer(ctx actor.Context, to *actor.PID, res *messages.ReloadRulesResult) {
	if to != nil {
		ctx.Send(to, res)
	}
}

func (m *Manager) current() []*actor.PID {
	out := make([]*actor.PID, 0, len(m.pids))
	for _, r := range m.set.Rules() {
		out = append(out, m.pids[r.Name()])
	}
	return out
}

// checkpoint collects every rule's state on a goroutine and writes it when
// it differs from the last one written. then, if set, runs after.
func (m *Manager) checkpoint(ctx actor.Context, then func(error)) {
	if m.cfg.CheckpointFile == "" || (m.saving && then == nil) {
		if then != nil {
			then(nil)
		}
		return
	}
	m.saving = true
	root, self, pids, last := ctx.ActorSystem().Root, ctx.Self(), m.current(), m.lastSave
	file, now := m.cfg.CheckpointFile, m.deps.Clock.Now()
	go func() {
		defer actors.Recover("rules checkpoint", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		states, err := Collect(root, pids, 2*time.Second)
		body, merr := json.Marshal(states)
		if merr == nil && !bytes.Equal(body, last) {
			if werr := WriteCheckpoint(file, states, now); werr != nil {
				err = werr
				body = nil
			}
		} else {
			body = nil
		}
		if then != nil {
			then(err)
			return
		}
		root.Send(self, &checkpointed{body: body, err: err})
	}()
}

// drain lets every rule finish what is in its mailbox, saves their state
// (the snapshot requests queue behind that work), stops them and answers.
func (m *Manager) drain(ctx actor.Context) {
	m.draining = ctx.Sender()
	m.release()
	root, self, pids := ctx.ActorSystem().Root, ctx.Self(), m.current()
	m.checkpoint(ctx, func(err error) {
		for _, pid := range pids {
			_ = root.PoisonFuture(pid).Wait()
		}
		root.Send(self, &drainDone{err: err})
	})
}

// watch reloads when a rule file, or a *.yaml in a rule directory, is
// written, created, renamed or removed (editors replace files by rename).
func (m *Manager) watch(ctx actor.Context) {
	if len(m.files) == 0 {
		return // the embedded default cannot change
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		m.log.Warn("cannot watch the rule files; reload with SIGHUP or POST /-/reload", "err", err)
		return
	}
	dirs := map[string]bool{}
	relevant := map[string]bool{}
	for _, f := range m.files {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			dirs[f] = true
			relevant[f] = true
			continue
		}
		dirs[filepath.Dir(f)] = true
		relevant[f] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			m.log.Warn("cannot watch a rule directory; reload with SIGHUP or POST /-/reload", "dir", d, "err", err)
		}
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer actors.Recover("rules file watch", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		for {
			select {
			case <-done:
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if relevant[ev.Name] || (relevant[filepath.Dir(ev.Name)] && strings.HasSuffix(ev.Name, ".yaml")) {
					root.Send(self, fileChanged{name: ev.Name})
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			}
		}
	}()
	m.stopWatch = func() { close(done); w.Close(); <-stopped }
}

func describeFiles(files []string) string {
	if len(files) == 0 {
		return DefaultName
	}
	return strings.Join(files, ",")
}
