package heartbeat

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// Pipeline is what the registry and its watchers ask of the bus in front of
// them: has every heartbeat that reached us before a deadline been applied?
// chembus.BusWatermark implements it; heartbeat does not import chembus.
type Pipeline interface {
	// CaughtUp reports whether everything that arrived before deadline has
	// been applied.
	CaughtUp(deadline time.Time) bool
	// Kick asks the bus to read now instead of at the end of its window.
	Kick()
	// MarkApplied records that the registry applied the heartbeat with seq.
	MarkApplied(seq uint64)
}

// noPipeline is the Pipeline when nothing stands in front of the registry.
type noPipeline struct{}

func (noPipeline) CaughtUp(time.Time) bool { return true }
func (noPipeline) Kick()                   {}
func (noPipeline) MarkApplied(uint64)      {}

// Registry tracks every zooid seen on ChemBus and publishes
// CAPABILITY_GAP when one falls silent.
//
// Design:
//   - One HeartbeatWatcher child per zooid keeps the deadline, armed in the
//     shared deadline timer (deadlines.go). The registry records each
//     heartbeat in the zooid's state, where the watcher and the timer read
//     it; only a watcher waiting for a silent zooid is sent the beat. The
//     watcher verifies and publishes a silence; the registry keeps the books
//     (episodes, checkpoint, repeats, retention).
//   - Episodes: a silence opens an episode with a fresh incident_id and one
//     CAPABILITY_GAP (repeated every GapRepeat if set); the zooid beating
//     again closes it (logged; published on RecoveryTopic if
//     PublishRecovery). Duplicate or double-tapped heartbeats only reset a
//     deadline, so they can never open a second episode.
//   - Our own stalls (SIGSTOP, VM pause): a lag probe ticks every ProbeEvery
//     and notes its monotonic time. A deadline that expires while the probe
//     is overdue (we were not running) or within one threshold after a stall
//     is re-armed, not reported — every zooid gets one threshold of grace
//     from our resumption, and the heartbeats queued in the socket during the
//     stall arrive within it. Wall-clock jumps are logged; deadlines are
//     monotonic and do not move.
//   - A deadline that races a heartbeat (the beat arrived after the timer
//     fired but before the registry acted) is checked against the last beat
//     and re-armed; one whose heartbeat is still in our own pipeline waits
//     for it (BusWatermark).
//   - Our own restarts: known zooids, niches, last-seen times and open
//     episodes are checkpointed atomically to StateFile every
//     CheckpointEvery and at once when an episode opens or closes. On start
//     every known zooid gets one threshold of grace; one that never beats
//     again is reported, and an episode announced before the restart is not
//     announced again.
//
// Receives: *messages.HeartbeatReceived, *messages.KillReceived (from the
// ChemBus actor), *messages.ZooidWentSilent / *messages.ZooidRecovered
// (from watchers), its own timers. Sends: *messages.Publish to ChemBus.
// Releases its timers and checkpoint writer (after a final checkpoint) on
// Stopping and Restarting; its watchers are stopped with it.
type Registry struct {
	cfg  Config
	deps actors.Deps
	log  *slog.Logger

	zooids    map[string]*zooidState
	silent    int
	paused    bool
	lag       *lagProbe
	shared    *monitorShared
	maxThresh time.Duration
	dirty     bool
	released  bool
	soon      bool // a checkpointTick is queued

	gaugesStale bool                   // zooid gauges are refreshed by the 1 s sweep
	viewStale   bool                   // View is republished by the 1 s sweep
	held        map[string]*zooidState // open episodes a silence keeps unannounced
	spawns      int
	silentLines lineBudget // "zooid went silent" lines
	newLines    lineBudget // "zooid first seen" lines
	lastRefuse  time.Time
	sweeps      int

	root    *actor.RootContext
	cancels []timer.Cancel

	ckpt   chan *checkpointFile
	ckDone chan struct{}
}

// zooidState is one zooid's record, shared with its watcher (which reads
// only name, threshold and the atomics).
type zooidState struct {
	name      string
	shared    *monitorShared
	nicheP    atomic.Pointer[string]
	threshN   atomic.Int64                // time.Duration
	lastBeatN atomic.Int64                // monotonic: nanoseconds since clock.Base
	lastSeenN atomic.Int64                // wall clock UnixNano of the last heartbeat
	restored  atomic.Bool                 // known from the checkpoint, not heard since our start
	announced atomic.Bool                 // an episode is open and was announced
	waiting   atomic.Bool                 // the watcher waits for a beat: send it *watchBeat
	ep        atomic.Pointer[episodeView] // the open episode, for View
	slot      deadlineSlot                // the watcher's deadline

	// Registry only.
	processed int64
	uptime    float64 // the last heartbeat's uptime_s (0: none)
	episode   *episode
	pid       *actor.PID
}

func newZooidState(name string, shared *monitorShared) *zooidState {
	st := &zooidState{name: name, shared: shared}
	st.slot.natural = func() int64 { return st.lastBeatN.Load() + st.threshN.Load() }
	return st
}

func (s *zooidState) niche() string {
	if p := s.nicheP.Load(); p != nil {
		return *p
	}
	return ""
}
func (s *zooidState) setNiche(n string)     { s.nicheP.Store(&n) }
func (s *zooidState) thresh() time.Duration { return time.Duration(s.threshN.Load()) }
func (s *zooidState) lastSeen() time.Time   { return time.Unix(0, s.lastSeenN.Load()) }
func (s *zooidState) setSeen(at time.Time)  { s.setLastBeat(at); s.lastSeenN.Store(at.UnixNano()) }

// missing is how long the zooid has been silent at now: by the monotonic
// clock, or by the wall clock for a zooid only known from the checkpoint.
func (s *zooidState) missing(now time.Time) time.Duration {
	if s.restored.Load() {
		return now.Round(0).Sub(s.lastSeen())
	}
	return now.Sub(s.lastBeat())
}

// monitorShared is what the registry and its watchers share.
type monitorShared struct {
	clk       clock.Clock // Deps.Clock: every time the monitor reads or waits for
	lag       *lagProbe
	deadlines *deadlines
	paused    atomic.Bool
	bus       Pipeline
	silences  *silence.Store
	chembus   *actor.PID
	metrics   *telemetry.HeartbeatMetrics
}

func (sh *monitorShared) publishGap(ctx actor.Context, st *zooidState, id string, missing time.Duration, repeat bool) {
	sh.metrics.Gaps.Inc()
	if sh.chembus == nil {
		return
	}
	facts := map[string]any{
		"gap_type": "heartbeat_missing", "gap_name": "heartbeat_" + st.name, "zooid": st.name, "niche": st.niche(),
		"last_seen": intentfile.Epoch(st.lastSeen()), "missing_seconds": missing.Seconds(),
	}
	if repeat {
		facts["repeat"] = true
	}
	ctx.Send(sh.chembus, &messages.Publish{Topic: messages.TopicGap, Signal: messages.Signal{
		Signal: messages.TopicGap, Ecosystem: "monitoring", Intensity: 1.0, Facts: facts, IncidentID: &id,
		TS: intentfile.Epoch(sh.clk.Now()),
	}})
}

type episode struct {
	IncidentID string    `json:"incident_id"`
	Since      time.Time `json:"since"`
	Announced  bool      `json:"announced"`
	nextRepeat time.Time
}

func (s *zooidState) lastBeat() time.Time      { return clock.Base.Add(time.Duration(s.lastBeatN.Load())) }
func (s *zooidState) setLastBeat(at time.Time) { s.lastBeatN.Store(int64(at.Sub(clock.Base))) }

type sweepTick struct{}
type checkpointTick struct{}

func (sweepTick) NotInfluenceReceiveTimeout()      {}
func (checkpointTick) NotInfluenceReceiveTimeout() {}

// NewRegistry returns the registry's producer.
func NewRegistry(cfg Config, deps actors.Deps) actor.Producer {
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = time.Second
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	return func() actor.Actor { return &Registry{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (r *Registry) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		r.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		r.release()
	case *actor.Terminated:
		// a watcher stopped (we are stopping, or it was forgotten)
	}
	if r.released {
		// protoactor keeps delivering user messages while an actor with
		// children stops; a stopping registry must not spawn or publish.
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Restarting, *actor.Terminated:
	case *messages.HeartbeatReceived:
		r.beat(ctx, m)
		r.shared.bus.MarkApplied(m.Seq)
	case *messages.ZooidWentSilent:
		r.wentSilent(ctx, m)
	case *messages.ZooidRecovered:
		r.recovered(ctx, m)
	case *messages.ForgetZooidRequest:
		ctx.Respond(&messages.ForgetZooidResponse{Zooid: m.Zooid, Known: r.forget(ctx, m.Zooid)})
	case *messages.KillReceived:
		if r.cfg.OnKill != "ignore" && !r.paused {
			r.paused = true
			r.shared.paused.Store(true)
			r.deps.Metrics.Heartbeat.Paused.Set(1)
			r.log.Warn("governance.kill received: CAPABILITY_GAP publishing paused; silences are still tracked and logged")
		}
	case sweepTick:
		r.sweep(ctx)
	case checkpointTick:
		r.soon = false
		if r.dirty {
			r.checkpoint()
		}
	default:
		actors.Unhandled(r.log, m)
	}
}

func (r *Registry) start(ctx actor.Context) {
	r.log = r.deps.Logger.With("actor", "zooids")
	r.zooids = map[string]*zooidState{}
	r.maxThresh = r.cfg.Threshold
	for _, d := range r.cfg.NicheThresholds {
		r.maxThresh = max(r.maxThresh, d)
	}
	r.ckpt, r.ckDone = make(chan *checkpointFile, 1), make(chan struct{})
	log, m, grace := r.log, r.deps.Metrics.Heartbeat, r.maxThresh
	bus := r.cfg.Watermark
	if bus == nil {
		bus = noPipeline{}
	}
	r.shared = &monitorShared{clk: r.deps.Clock, chembus: r.cfg.ChemBus, metrics: m, bus: bus, silences: r.cfg.Silences}
	r.held = map[string]*zooidState{}
	r.lag = startLagProbe(r.deps.Clock, r.cfg.ProbeEvery, grace, func(gap time.Duration) {
		m.StallsDetected.Inc()
		log.Warn("this process was not running (paused or starved); re-arming zooid deadlines instead of reporting them",
			"stalled_seconds", gap.Seconds(), "grace_seconds", grace.Seconds())
	})
	r.shared.lag = r.lag
	root, self := ctx.ActorSystem().Root, ctx.Self()
	r.root = root
	r.shared.deadlines = startDeadlines(root, r.deps.Clock, func(f *actors.GoroutineFailed) { root.Send(self, f) })
	go r.writeCheckpoints(func(f *actors.GoroutineFailed) { root.Send(self, f) })
	r.restore(ctx)
	r.cfg.View.publish(r.zooids)
	r.gauges() // zooids{state} exist from the start, at 0
	r.cancels = []timer.Cancel{
		timer.Every(ctx.ActorSystem(), time.Second, time.Second, self, sweepTick{}),
		timer.Every(ctx.ActorSystem(), r.cfg.CheckpointEvery, r.cfg.CheckpointEvery, self, checkpointTick{}),
	}
}

func (r *Registry) release() {
	r.released = true
	for _, c := range r.cancels {
		c()
	}
	if r.lag != nil {
		r.lag.stop()
		r.lag = nil
	}
	if r.shared != nil && r.shared.deadlines != nil {
		r.shared.deadlines.stop() // watchers still stopping may arm it: harmless, nothing fires
	}
	r.cancels = nil
	if r.ckpt == nil {
		return
	}
	r.checkpoint()
	close(r.ckpt)
	<-r.ckDone
	r.ckpt = nil
}

func (r *Registry) thresholdFor(niche string) time.Duration {
	if d, ok := r.cfg.NicheThresholds[niche]; ok {
		return d
	}
	return r.cfg.Threshold
}

func (r *Registry) spawn(ctx actor.Context, st *zooidState) {
	pid, err := ctx.SpawnNamed(r.watcherProps(st), "watcher:"+url.PathEscape(st.name))
	if errors.Is(err, actor.ErrNameExists) {
		// A forgotten zooid beat again before its old watcher was gone.
		r.spawns++
		pid, err = ctx.SpawnNamed(r.watcherProps(st), fmt.Sprintf("watcher:%s~%d", url.PathEscape(st.name), r.spawns))
	}
	if err != nil {
		panic(fmt.Errorf("spawn watcher for %s: %w", st.name, err))
	}
	st.pid = pid
}

func (r *Registry) watcherProps(st *zooidState) *actor.Props {
	opts := []actor.PropsOption{actor.WithDispatcher(watcherDispatcher)}
	if r.cfg.WatcherMailbox != nil {
		opts = append(opts, actor.WithMailbox(r.cfg.WatcherMailbox))
	}
	return actor.PropsFromProducer(newHeartbeatWatcher(st), opts...)
}

// watcherDispatcher runs a watcher's mailbox on the goroutine that sent to
// it (the timer that fired, or the registry) instead of starting a goroutine
// per delivery. A watcher's work is a few atomics and at most two sends, so
// running it inline is cheaper than scheduling it; when thousands of
// deadlines expire in the same instant this halves the goroutines started.
// The mailbox still processes one message at a time, and a panic is still
// recovered there and reported to the registry.
var watcherDispatcher = actor.NewSynchronizedDispatcher(10)

func (r *Registry) beat(ctx actor.Context, hb *messages.HeartbeatReceived) {
	m := r.deps.Metrics.Heartbeat
	st, ok := r.zooids[hb.Zooid]
	if !ok {
		if len(r.zooids) >= r.cfg.MaxZooids {
			m.Refused.Inc()
			if now := r.deps.Clock.Now(); now.Sub(r.lastRefuse) > time.Minute {
				r.lastRefuse = now
				r.log.Warn("too many zooids tracked; refusing new ones", "max_zooids", r.cfg.MaxZooids, "zooid", hb.Zooid)
			}
			return
		}
		st = newZooidState(hb.Zooid, r.shared)
		st.processed, st.uptime = hb.ProcessedCount, hb.UptimeS
		st.setNiche(hb.Niche)
		st.threshN.Store(int64(r.thresholdFor(hb.Niche)))
		st.setSeen(hb.At)
		r.zooids[hb.Zooid] = st
		r.spawn(ctx, st)
		r.gauges()
		r.dirty = true
		r.viewStale = true
		if r.newBudget(r.deps.Clock.Now()) {
			r.log.Info("zooid first seen", "zooid", hb.Zooid, "niche", hb.Niche, "threshold_seconds", st.thresh().Seconds())
		}
		r.deps.Stream.Publish(&messages.ZooidObserved{At: hb.At, Change: messages.ZooidFirstSeen, Zooid: hb.Zooid, Niche: hb.Niche})
		return
	}
	since := hb.At.Sub(st.lastBeat())
	m.HeartbeatAge.Observe(since.Seconds())
	if restarted(st, hb, since) {
		m.Restarts.Inc()
		r.log.Info("zooid restarted (its uptime_s is shorter than the time since its previous heartbeat)", "zooid", hb.Zooid,
			"uptime_seconds", hb.UptimeS, "previous_uptime_seconds", st.uptime, "since_previous_seconds", since.Seconds())
	}
	st.processed, st.uptime = hb.ProcessedCount, hb.UptimeS
	rearm := false
	if hb.Niche != st.niche() {
		st.setNiche(hb.Niche)
		old := st.thresh()
		st.threshN.Store(int64(r.thresholdFor(hb.Niche)))
		rearm = st.thresh() < old // a later deadline is found lazily; an earlier one must be armed
		r.dirty = true
	}
	st.setSeen(hb.At)
	st.restored.Store(false)
	// Only a silent zooid's watcher needs the beat (and one whose threshold
	// just got shorter); the others' deadlines follow lazily.
	if rearm || st.waiting.Load() {
		ctx.Send(st.pid, &watchBeat{at: hb.At})
	}
}

// restarted reports whether hb proves its zooid restarted since its
// previous heartbeat: uptime_s went down and is shorter than the time that
// passed between the two, i.e. the process says it started after we last
// heard from it. Nothing else counts. processed_count is the size of the
// colony's 60 s duplicate window and goes down in normal operation, and the
// colony's producers put wall-clock time in uptime_s (SPEC §1.3): a
// wall-clock value (~1.8e9) is never shorter than the time between two
// heartbeats, and a clock stepped back makes it go down but not that far,
// so no restart is ever inferred for them. A zooid only known from our
// checkpoint has no previous uptime here (0): nothing is inferred either.
func restarted(st *zooidState, hb *messages.HeartbeatReceived, since time.Duration) bool {
	return !st.restored.Load() && hb.UptimeS > 0 && st.uptime > 0 &&
		hb.UptimeS < st.uptime && hb.UptimeS < since.Seconds()
}

// wentSilent records an episode a watcher opened (and, unless paused,
// already published).
func (r *Registry) wentSilent(ctx actor.Context, m *messages.ZooidWentSilent) {
	st, ok := r.zooids[m.Zooid]
	if !ok || st.episode != nil {
		return
	}
	now := r.deps.Clock.Now()
	st.episode = &episode{IncidentID: m.IncidentID, Since: now, Announced: m.Published}
	st.ep.Store(&episodeView{id: m.IncidentID, since: now})
	if m.Published && r.cfg.GapRepeat > 0 {
		st.episode.nextRepeat = now.Add(r.cfg.GapRepeat)
	}
	if sl := r.cfg.Silences.Match(st.name, st.niche(), now); sl != nil && !m.Published {
		r.held[st.name] = st
		r.log.Info("zooid went silent while silenced; no CAPABILITY_GAP", "zooid", st.name, "niche", st.niche(),
			"incident_id", m.IncidentID, "silence_id", sl.ID, "silenced_until", sl.End(), "comment", sl.Comment)
	}
	r.silent++
	r.gaugesStale = true
	r.deps.Stream.Publish(&messages.GapObserved{At: now, Change: messages.GapOpened, Zooid: st.name, Niche: st.niche(),
		IncidentID: m.IncidentID, LastSeen: st.lastBeat(), Missing: m.Missing, Published: m.Published})
	if r.logBudget(now) {
		r.log.Warn("zooid went silent", "zooid", st.name, "niche", st.niche(), "incident_id", m.IncidentID,
			"missing_seconds", m.Missing.Seconds(), "published", m.Published)
	}
	r.checkpointSoon(ctx)
}

// checkpointSoon asks for a checkpoint behind the messages already queued,
// so that a burst of episodes (thousands of zooids expiring together) costs
// one snapshot, not one per zooid.
func (r *Registry) checkpointSoon(ctx actor.Context) {
	r.dirty = true
	if !r.soon {
		r.soon = true
		timer.Once(ctx.ActorSystem(), checkpointDebounce, ctx.Self(), checkpointTick{})
	}
}

// checkpointDebounce bounds how long an episode change waits to be durable;
// within it, a burst of changes shares one snapshot.
const checkpointDebounce = 200 * time.Millisecond

func (r *Registry) send(p *messages.Publish) {
	if r.cfg.ChemBus != nil {
		r.root.Send(r.cfg.ChemBus, p)
	}
}

func (r *Registry) recovered(ctx actor.Context, m *messages.ZooidRecovered) {
	st, ok := r.zooids[m.Zooid]
	if !ok || st.episode == nil {
		return
	}
	ep := st.episode
	st.episode = nil
	st.ep.Store(nil)
	delete(r.held, st.name)
	st.announced.Store(false)
	defer r.checkpointSoon(ctx)
	r.silent--
	r.gaugesStale = true
	r.deps.Metrics.Heartbeat.Recoveries.Inc()
	now := r.deps.Clock.Now()
	r.log.Info("zooid recovered", "zooid", st.name, "niche", st.niche(), "incident_id", ep.IncidentID,
		"silent_seconds", now.Sub(ep.Since).Seconds())
	r.deps.Stream.Publish(&messages.GapObserved{At: m.At, Change: messages.GapClosed, Zooid: st.name, Niche: st.niche(),
		IncidentID: ep.IncidentID, LastSeen: st.lastBeat(), Missing: now.Sub(ep.Since), Published: ep.Announced})
	if r.cfg.PublishRecovery && ep.Announced && !r.paused {
		id := ep.IncidentID
		r.send(&messages.Publish{Topic: r.cfg.RecoveryTopic, Signal: messages.Signal{
			Signal: r.cfg.RecoveryTopic, Ecosystem: "monitoring", Intensity: 1.0, IncidentID: &id,
			Facts: map[string]any{"gap_type": "heartbeat_missing", "gap_name": "heartbeat_" + st.name, "zooid": st.name,
				"niche": st.niche(), "silent_seconds": now.Sub(ep.Since).Seconds(), "last_seen": intentfile.Epoch(st.lastSeen())},
			TS: intentfile.Epoch(now),
		}})
	}
}

// lineBudget allows 20 lines of one kind a second; past that the rest of
// that second are summed up in one line by flush (a switch dying takes
// thousands of zooids with it, a burst of new names brings 100,000:
// operators need one line, not thousands).
type lineBudget struct {
	window     time.Time
	logged     int
	suppressed int
}

// allow reports whether a line may be logged at now; flush is called with
// the count suppressed in the window that ended.
func (b *lineBudget) allow(now time.Time, flush func(suppressed int)) bool {
	if now.Sub(b.window) >= time.Second {
		b.flush(flush)
		b.window, b.logged = now, 0
	}
	if b.logged < 20 {
		b.logged++
		return true
	}
	b.suppressed++
	return false
}

// flush reports and resets what was suppressed.
func (b *lineBudget) flush(report func(suppressed int)) {
	if b.suppressed > 0 {
		report(b.suppressed)
		b.suppressed = 0
	}
}

// due reports whether the window ended (the sweep then flushes).
func (b *lineBudget) due(now time.Time) bool { return now.Sub(b.window) >= time.Second }

func (r *Registry) logBudget(now time.Time) bool { return r.silentLines.allow(now, r.reportSilent) }
func (r *Registry) newBudget(now time.Time) bool { return r.newLines.allow(now, r.reportNew) }

func (r *Registry) reportSilent(n int) {
	r.log.Warn("more zooids went silent (individual lines suppressed)", "count", n, "silent_total", r.silent)
}

func (r *Registry) reportNew(n int) {
	r.log.Info("more zooids first seen (individual lines suppressed)", "count", n, "zooids_total", len(r.zooids))
}

func (r *Registry) sweep(ctx actor.Context) {
	now := r.deps.Clock.Now()
	r.sweeps++
	if r.silentLines.due(now) {
		r.silentLines.flush(r.reportSilent)
	}
	if r.newLines.due(now) {
		r.newLines.flush(r.reportNew)
	}
	if r.gaugesStale {
		r.gauges()
	}
	if r.viewStale {
		r.viewStale = false
		r.cfg.View.publish(r.zooids)
	}
	r.releaseHeld(ctx, now)
	for _, st := range r.zooids {
		if r.cfg.GapRepeat <= 0 || r.silent == 0 || r.paused {
			break // nothing to repeat: no walk over every zooid each second
		}
		ep := st.episode
		if ep != nil && ep.Announced && !ep.nextRepeat.IsZero() && now.After(ep.nextRepeat) {
			ep.nextRepeat = now.Add(r.cfg.GapRepeat)
			if r.cfg.Silences.Match(st.name, st.niche(), now) != nil {
				continue // silenced since it was announced: no repeat
			}
			r.shared.publishGap(ctx, st, ep.IncidentID, st.missing(now), true)
			r.deps.Stream.Publish(&messages.GapObserved{At: now, Change: messages.GapRepeated, Zooid: st.name, Niche: st.niche(),
				IncidentID: ep.IncidentID, LastSeen: st.lastBeat(), Missing: st.missing(now), Published: true})
		}
	}
	if r.sweeps%60 != 0 {
		return
	}
	for name, st := range r.zooids { // once a minute: forget the long gone
		if st.episode != nil && now.Round(0).Sub(st.lastSeen()) > r.cfg.Retention {
			ctx.Stop(st.pid)
			delete(r.zooids, name)
			delete(r.held, name)
			r.silent--
			r.dirty = true
			r.viewStale = true
			r.deps.Metrics.Heartbeat.Forgotten.Inc()
			r.log.Info("forgetting zooid silent longer than the retention", "zooid", name, "retention_seconds", r.cfg.Retention.Seconds())
			r.deps.Stream.Publish(&messages.ZooidObserved{At: now, Change: messages.ZooidForgotten, Zooid: name, Niche: st.niche()})
		}
	}
	r.gauges()
}

func (r *Registry) gauges() {
	r.gaugesStale = false
	r.deps.Metrics.Heartbeat.Zooids.WithLabelValues("alive").Set(float64(len(r.zooids) - r.silent))
	r.deps.Metrics.Heartbeat.Zooids.WithLabelValues("silent").Set(float64(r.silent))
}

// incidentRand makes incident ids: unique, not secret, and cheap (crypto
// randomness only seeds it).
var incidentRand = func() *mrand.ChaCha8 {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	return mrand.NewChaCha8(seed)
}()

var incidentMu sync.Mutex

func newIncidentID() string {
	var b [8]byte
	incidentMu.Lock()
	_, _ = incidentRand.Read(b[:])
	incidentMu.Unlock()
	return "hbgap-" + hex.EncodeToString(b[:])
}

// checkpointFile is the registry's on-disk form.
type checkpointFile struct {
	Version int               `json:"version"`
	SavedAt time.Time         `json:"saved_at"`
	Zooids  []checkpointZooid `json:"zooids"`
}

type checkpointZooid struct {
	Zooid          string    `json:"zooid"`
	Niche          string    `json:"niche"`
	LastSeen       time.Time `json:"last_seen"`
	ProcessedCount int64     `json:"processed_count"`
	Episode        *episode  `json:"episode,omitempty"`
}

// checkpoint snapshots the registry and hands it to the writer goroutine
// (the newest snapshot replaces one not yet written).
func (r *Registry) checkpoint() {
	if r.ckpt == nil || r.cfg.StateFile == "" {
		return
	}
	f := checkpointFile{Version: 1, SavedAt: r.deps.Clock.Now().Round(0), Zooids: make([]checkpointZooid, 0, len(r.zooids))}
	for _, st := range r.zooids {
		z := checkpointZooid{Zooid: st.name, Niche: st.niche(), LastSeen: st.lastSeen(), ProcessedCount: st.processed}
		if st.episode != nil {
			ep := *st.episode
			ep.Since = ep.Since.Round(0)
			z.Episode = &ep
		}
		f.Zooids = append(f.Zooids, z)
	}
	select {
	case <-r.ckpt: // drop the older snapshot still waiting
	default:
	}
	r.ckpt <- &f
	r.dirty = false
}

func (r *Registry) writeCheckpoints(report func(*actors.GoroutineFailed)) {
	defer close(r.ckDone)
	defer actors.Recover("registry checkpoint writer", report)
	dir, name := filepath.Dir(r.cfg.StateFile), filepath.Base(r.cfg.StateFile)
	for f := range r.ckpt {
		sort.Slice(f.Zooids, func(i, j int) bool { return f.Zooids[i].Zooid < f.Zooids[j].Zooid })
		b, err := json.Marshal(f)
		if err != nil {
			r.log.Error("cannot encode the registry checkpoint", "err", err)
			continue
		}
		for attempt := 1; ; attempt++ {
			errs := intentfile.CommitBatch(dir, []intentfile.File{{Name: name, Body: b}})
			if errs[0] == nil {
				break
			}
			if attempt == 1 {
				r.log.Error("cannot write the registry checkpoint, retrying", "file", r.cfg.StateFile, "err", errs[0])
			}
			if attempt >= 5 {
				break // the next snapshot will try again
			}
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
	}
}

// restore loads the checkpoint: every known zooid gets one threshold of
// grace from now; open episodes stay open (announced ones are not re-sent).
func (r *Registry) restore(ctx actor.Context) {
	if r.cfg.StateFile == "" {
		return
	}
	b, err := os.ReadFile(r.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f checkpointFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		r.log.Error("registry checkpoint unreadable; starting empty", "file", r.cfg.StateFile, "err", err)
		return
	}
	now := r.deps.Clock.Now()
	for _, z := range f.Zooids {
		if len(r.zooids) >= r.cfg.MaxZooids {
			break
		}
		st := newZooidState(z.Zooid, r.shared)
		st.processed, st.episode = z.ProcessedCount, z.Episode
		if st.episode != nil {
			st.ep.Store(&episodeView{id: st.episode.IncidentID, since: st.episode.Since})
			if !st.episode.Announced && r.cfg.Silences.Match(z.Zooid, z.Niche, now) != nil {
				r.held[z.Zooid] = st // announced when its silence ends
			}
		}
		st.setNiche(z.Niche)
		st.threshN.Store(int64(r.thresholdFor(z.Niche)))
		st.lastSeenN.Store(z.LastSeen.UnixNano())
		st.restored.Store(true)
		st.setLastBeat(now) // grace: one threshold from our start
		if st.episode != nil {
			r.silent++
			st.announced.Store(st.episode.Announced)
			st.waiting.Store(st.episode.Announced) // before the watcher exists: no beat is missed
			if r.cfg.GapRepeat > 0 {
				st.episode.nextRepeat = now.Add(r.cfg.GapRepeat)
			}
		}
		r.zooids[z.Zooid] = st
		r.spawn(ctx, st)
	}
	r.gauges()
	r.log.Info("registry restored from checkpoint", "zooids", len(r.zooids), "open_episodes", r.silent,
		"saved_seconds_ago", now.Round(0).Sub(f.SavedAt).Seconds())
}

// lagProbe notices when this whole process was not running (SIGSTOP, a VM
// pause, starvation). It is its own goroutine, not a message to the
// registry, so a registry busy with thousands of expiries is not mistaken
// for a stalled process.
type lagProbe struct {
	clk     clock.Clock
	every   time.Duration
	grace   time.Duration
	onStall func(gap time.Duration)
	last    atomic.Int64 // monotonic ns since clock.Base of the last tick
	until   atomic.Int64 // grace end, monotonic ns since clock.Base
	done    chan struct{}
	stopped chan struct{}
}

func startLagProbe(clk clock.Clock, every, grace time.Duration, onStall func(time.Duration)) *lagProbe {
	p := &lagProbe{clk: clk, every: every, grace: grace, onStall: onStall, done: make(chan struct{}), stopped: make(chan struct{})}
	now := clk.Now()
	p.last.Store(int64(now.Sub(clock.Base)))
	// On the process's grid (timer.NextTick), so the probe wakes with the
	// SUB side's reads and the deadline refresh rather than on its own.
	// Armed here, not in the goroutine: the first tick is one period at
	// most after last, however late the goroutine starts.
	t := clock.NewTimer(clk, time.Hour)
	t.ResetAt(timer.NextTick(now, every))
	go p.run(t)
	return p
}

func (p *lagProbe) run(t clock.Timer) {
	defer close(p.stopped)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C():
			now := p.clk.Now()
			t.ResetAt(timer.NextTick(now, p.every))
			if gap := p.overdue(now); gap > 0 {
				p.stalled(now, gap)
			}
			p.last.Store(int64(now.Sub(clock.Base)))
		}
	}
}

// overdue returns how long the probe has not ticked, if that is more than
// three periods (else 0).
func (p *lagProbe) overdue(now time.Time) time.Duration {
	gap := now.Sub(clock.Base.Add(time.Duration(p.last.Load())))
	if gap > 3*p.every {
		return gap
	}
	return 0
}

// stalled opens one grace period (noted once per stall).
func (p *lagProbe) stalled(now time.Time, gap time.Duration) {
	if !p.last.CompareAndSwap(int64(now.Add(-gap).Sub(clock.Base)), int64(now.Sub(clock.Base))) {
		return // the probe goroutine or the registry noted this stall already
	}
	p.until.Store(int64(now.Add(p.grace).Sub(clock.Base)))
	if p.onStall != nil {
		p.onStall(gap)
	}
}

func (p *lagProbe) graceUntil() time.Time { return clock.Base.Add(time.Duration(p.until.Load())) }

func (p *lagProbe) stop() {
	close(p.done)
	<-p.stopped
}

// forget drops a zooid an operator asked to forget: its watcher stops, an
// open episode is dropped (no gap, no recovery), and it is new if it beats
// again.
func (r *Registry) forget(ctx actor.Context, name string) bool {
	st, ok := r.zooids[name]
	if !ok {
		return false
	}
	ctx.Stop(st.pid)
	delete(r.zooids, name)
	delete(r.held, name)
	if st.episode != nil {
		r.silent--
	}
	r.gaugesStale = true
	r.cfg.View.publish(r.zooids)
	r.viewStale = false
	r.deps.Metrics.Heartbeat.Forgotten.Inc()
	r.log.Info("zooid forgotten by an operator", "zooid", name, "niche", st.niche(), "open_incident", st.episode != nil)
	r.deps.Stream.Publish(&messages.ZooidObserved{At: r.deps.Clock.Now(), Change: messages.ZooidForgotten, Zooid: name, Niche: st.niche()})
	r.checkpointSoon(ctx)
	return true
}

// releaseHeld announces the episodes a silence held back once no silence
// covers them any more (the silence expired or was expired while the zooid
// was still silent).
func (r *Registry) releaseHeld(ctx actor.Context, now time.Time) {
	for name, st := range r.held {
		ep := st.episode
		if ep == nil || ep.Announced {
			delete(r.held, name)
			continue
		}
		if r.paused || r.cfg.Silences.Match(st.name, st.niche(), now) != nil {
			continue
		}
		delete(r.held, name)
		ep.Announced = true
		st.announced.Store(true)
		if r.cfg.GapRepeat > 0 {
			ep.nextRepeat = now.Add(r.cfg.GapRepeat)
		}
		r.shared.publishGap(ctx, st, ep.IncidentID, st.missing(now), false)
		r.deps.Stream.Publish(&messages.GapObserved{At: now, Change: messages.GapRepeated, Zooid: st.name, Niche: st.niche(),
			IncidentID: ep.IncidentID, LastSeen: st.lastBeat(), Missing: st.missing(now), Published: true})
		r.log.Warn("silence over, zooid still silent: CAPABILITY_GAP published", "zooid", st.name, "incident_id", ep.IncidentID,
			"missing_seconds", st.missing(now).Seconds())
		r.dirty = true
	}
}
