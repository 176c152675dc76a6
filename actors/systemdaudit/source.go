package systemdaudit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// EventSource is the Source of the events this package sends.
const EventSource = "systemd_audit"

// EventType is the type of the events this package sends.
const EventType = "systemd_disabled"

// state is what the audit remembers across restarts.
type state struct {
	// LastAudit is when the last audit's units were all reported (zero:
	// never): the next audit is due Interval later.
	LastAudit time.Time `json:"last_audit"`
	// Reported maps each unit reported and still in a reported state to
	// that state.
	Reported map[string]string `json:"reported"`
}

// Source is the systemd audit (see the package doc).
type Source struct {
	cfg  Config
	deps actors.Deps
	m    *metrics
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	audit  chan time.Time // tells the auditor when the next audit is due

	st       state
	queue    []unitFile          // to report, in order
	queuedAt time.Time           // when the audit that filled the queue ran
	pending  map[uint64]unitFile // flush id -> unit it reports
	nextID   uint64
	pacing   timer.Cancel             // set while the pace timer runs
	saver    *intentfile.LatestWriter // the state file
	busDown  bool
	audited1 bool // an audit succeeded since start
}

type unitFile struct{ Unit, State, Path string }

// audited is one audit's result. Sent by the auditor to the actor.
type audited struct {
	At    time.Time
	Units []unitFile
}

// busFailed reports a failed connection or call. Sent by the auditor.
type busFailed struct {
	Err   error
	Retry time.Duration
}

type paceTick struct{}

// New returns the source's producer. Its metrics are registered once, here.
func New(cfg Config, deps actors.Deps) actor.Producer {
	m := newMetrics(deps.Metrics.Registry)
	return func() actor.Actor { return &Source{cfg: cfg, deps: deps, m: m} }
}

// Receive implements actor.Actor.
func (s *Source) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.release()
	case *audited:
		s.audited(ctx, m)
	case paceTick:
		s.pacing = nil
		s.emit(ctx)
	case *messages.Flushed:
		u, ok := s.pending[m.ID]
		if !ok {
			return
		}
		delete(s.pending, m.ID)
		s.st.Reported[u.Unit] = u.State
		s.finishIfDone()
		s.save()
	case *busFailed:
		s.m.busErrors.Inc()
		if !s.busDown {
			s.busDown = true
			s.deps.Stream.Publish(&messages.SourceObserved{At: s.deps.Clock.Now(), Source: EventSource, Target: s.cfg.Bus,
				Healthy: false, Detail: m.Err.Error()})
			s.log.Warn("no systemd D-Bus; the audit is retried with backoff", "bus", s.cfg.Bus, "err", m.Err,
				"retry_seconds", m.Retry.Seconds())
		}
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		if s.log != nil {
			s.log.Debug("unhandled message", "type", fmt.Sprintf("%T", m))
		}
	}
}

func (s *Source) start(ctx actor.Context) {
	s.log = s.deps.Logger.With("actor", "sources/systemd_audit")
	s.pending = map[uint64]unitFile{}
	st, err := s.load()
	if err != nil {
		s.log.Warn("cannot read the audit state; auditing from scratch", "file", s.cfg.StateFile, "err", err)
	}
	s.st = st
	s.saver = intentfile.NewLatestWriter(s.cfg.StateFile, func(err error) {
		if err != nil {
			s.m.stateErrors.Inc()
			s.log.Error("cannot write the audit state", "file", s.cfg.StateFile, "err", err)
		}
	})
	due := s.deps.Clock.Now()
	if !st.LastAudit.IsZero() {
		due = st.LastAudit.Add(s.cfg.Interval)
	}
	s.m.nextAudit.Set(float64(due.Unix()))
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.audit = cancel, make(chan struct{}), make(chan time.Time, 1)
	s.audit <- due
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer close(s.done)
		defer actors.Recover("systemd auditor", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		s.run(rctx, s.audit, func(m any) { root.Send(self, m) })
	}()
	s.log.Info("systemd audit scheduled", "bus", s.cfg.Bus, "next_audit", due.Format(time.RFC3339),
		"units_reported", len(st.Reported))
}

func (s *Source) release() {
	if s.pacing != nil {
		s.pacing()
		s.pacing = nil
	}
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
	if s.saver != nil {
		s.saver.Close()
		s.saver = nil
	}
}

// audited takes an audit's unit files: forgets the units no longer in a
// reported state, queues those not reported yet.
func (s *Source) audited(ctx actor.Context, a *audited) {
	if s.busDown || !s.audited1 {
		s.deps.Stream.Publish(&messages.SourceObserved{At: s.deps.Clock.Now(), Source: EventSource, Target: s.cfg.Bus,
			Healthy: true, Detail: fmt.Sprintf("audited %d unit files", len(a.Units))})
	}
	s.audited1 = true
	if s.busDown {
		s.busDown = false
		s.log.Info("systemd D-Bus reachable again")
	}
	s.m.audits.Inc()
	current := map[string]unitFile{}
	for _, u := range a.Units {
		if s.cfg.excluded(u.Unit) || !s.wanted(u) {
			continue
		}
		current[u.Unit] = u
	}
	for unit, st := range s.st.Reported {
		if u, ok := current[unit]; !ok || u.State != st {
			delete(s.st.Reported, unit) // enabled (or gone) since: a new case if disabled again
		}
	}
	queued := map[string]bool{}
	for _, u := range s.queue {
		queued[u.Unit] = true
	}
	for _, u := range s.pending {
		queued[u.Unit] = true
	}
	var fresh []unitFile
	for unit, u := range current {
		if _, done := s.st.Reported[unit]; !done && !queued[unit] {
			fresh = append(fresh, u)
		}
	}
	slices.SortFunc(fresh, func(a, b unitFile) int { return strings.Compare(a.Unit, b.Unit) })
	s.queue = append(s.queue, fresh...)
	s.queuedAt = a.At
	s.m.disabled.Set(float64(len(current)))
	s.log.Info("systemd audit done", "units_listed", len(a.Units), "disabled", len(current), "to_report", len(s.queue))
	s.finishIfDone()
	s.save()
	if s.pacing == nil {
		s.emit(ctx)
	}
}

// wanted filters what the bus returned (a stand-in or an old systemd may
// answer more than the patterns asked).
func (s *Source) wanted(u unitFile) bool {
	typeOK := false
	for _, t := range s.cfg.Types {
		typeOK = typeOK || strings.HasSuffix(u.Unit, "."+t)
	}
	return typeOK && slices.Contains(s.cfg.States, u.State)
}

// emit sends the next queued unit's event and arms the pace timer.
func (s *Source) emit(ctx actor.Context) {
	if len(s.queue) == 0 {
		return
	}
	u := s.queue[0]
	s.queue = s.queue[1:]
	ctx.Send(s.cfg.Dispatcher, &messages.Event{Source: EventSource, Type: EventType, TS: s.deps.Clock.Now(), Data: map[string]any{
		"unit": u.Unit, "state": u.State, "unit_file": u.Path,
		"message": fmt.Sprintf("systemd unit %s is %s", u.Unit, u.State),
	}})
	s.m.events.Inc()
	s.nextID++
	s.pending[s.nextID] = u
	ctx.Send(s.cfg.Dispatcher, &messages.Flush{ID: s.nextID, ReplyTo: ctx.Self()})
	// Armed even when the queue is empty: the first unit of a later audit
	// waits out the pace too.
	s.pacing = timer.Once(ctx.ActorSystem(), s.cfg.Pace, ctx.Self(), paceTick{})
}

// finishIfDone records the audit as finished once every unit it found is
// reported, and schedules the next one.
func (s *Source) finishIfDone() {
	if len(s.queue) > 0 || len(s.pending) > 0 || s.queuedAt.IsZero() {
		return
	}
	s.st.LastAudit = s.queuedAt
	s.queuedAt = time.Time{}
	due := s.st.LastAudit.Add(s.cfg.Interval)
	s.m.nextAudit.Set(float64(due.Unix()))
	select {
	case <-s.audit:
	default:
	}
	s.audit <- due
}

func (s *Source) load() (state, error) {
	st := state{Reported: map[string]string{}}
	b, err := os.ReadFile(s.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{Reported: map[string]string{}}, fmt.Errorf("%s: %w", s.cfg.StateFile, err)
	}
	if st.Reported == nil {
		st.Reported = map[string]string{}
	}
	return st, nil
}

func (s *Source) save() {
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		panic(err) // a map of strings and a time: cannot fail
	}
	s.saver.Save(append(b, '\n'))
}

// run is the auditor goroutine: it waits for the due time it was last
// given, audits (connecting first, retrying with backoff), and sends the
// result. It owns the D-Bus connection.
func (s *Source) run(ctx context.Context, due <-chan time.Time, send func(any)) {
	c := s.cfg
	var conn *sddbus.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	patterns := make([]string, len(c.Types))
	for i, t := range c.Types {
		patterns[i] = "*." + t
	}
	var at time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case at = <-due:
		}
	wait:
		for {
			d := at.Sub(s.deps.Clock.Now())
			if d <= 0 {
				break
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case at = <-due: // rescheduled
				t.Stop()
			case <-t.C:
				break wait
			}
		}
		retry := c.RetryInitial
		for {
			var files []sddbus.UnitFile
			var err error
			if conn == nil || !conn.Connected() {
				if conn != nil {
					conn.Close()
				}
				conn, err = s.connect(ctx)
			}
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, c.CallTimeout)
				files, err = conn.ListUnitFilesByPatternsContext(cctx, c.States, patterns)
				cancel()
			}
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				out := &audited{At: s.deps.Clock.Now(), Units: make([]unitFile, 0, len(files))}
				for _, f := range files {
					out.Units = append(out.Units, unitFile{Unit: filepath.Base(f.Path), State: f.Type, Path: f.Path})
				}
				send(out)
				break
			}
			if conn != nil {
				conn.Close()
				conn = nil
			}
			send(&busFailed{Err: err, Retry: retry})
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			retry = min(retry*2, c.RetryMax)
		}
	}
}

// connect opens the configured bus. ctx is the connection's lifetime
// (godbus closes a connection when its context ends), so it is the
// auditor's, not a per-call timeout.
func (s *Source) connect(ctx context.Context) (*sddbus.Conn, error) {
	switch s.cfg.Bus {
	case "system":
		return sddbus.NewSystemConnectionContext(ctx)
	case "user":
		return sddbus.NewUserConnectionContext(ctx)
	}
	addr := s.cfg.Bus
	return sddbus.NewConnection(func() (*dbus.Conn, error) {
		conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth(nil); err != nil {
			conn.Close()
			return nil, err
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
}

type metrics struct {
	audits, events, busErrors, stateErrors prometheus.Counter
	disabled, nextAudit                    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kloros_observer", Subsystem: "systemd_audit", Name: name, Help: help}))
	}
	g := func(name, help string) prometheus.Gauge {
		return register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kloros_observer", Subsystem: "systemd_audit", Name: name, Help: help}))
	}
	return &metrics{
		audits:      c("audits_total", "Audits of the unit files done over D-Bus."),
		events:      c("events_total", "systemd_disabled events sent (one per unit, once)."),
		busErrors:   c("bus_errors_total", "Failed D-Bus connections or calls (no systemd bus: each retried with backoff)."),
		stateErrors: c("state_write_errors_total", "Failed writes of the audit state file."),
		disabled:    g("disabled_units", "Units in a reported state (minus exclusions) at the last audit."),
		nextAudit:   g("next_audit_timestamp_seconds", "When the next audit is due (Unix time)."),
	}
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(C)
		}
		panic(err)
	}
	return c
}
