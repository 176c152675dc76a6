//go:build linux

package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// EventSource is the Source of the events this package sends.
const EventSource = "deadletter"

// Source follows the dead-letter file (see the package doc).
type Source struct {
	cfg  Config
	deps actors.Deps
	m    *metrics
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	nextID  uint64
	pending map[uint64]Position      // flush id -> position it makes durable
	ckpt    *intentfile.LatestWriter // the position's checkpoint file
}

// watchFailed reports a watch error the follower survived (an inotify
// overflow: it checked the file again).
type watchFailed struct{ err error }

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
	case *observation:
		s.observed(ctx, m)
	case *messages.Flushed:
		pos, ok := s.pending[m.ID]
		if !ok {
			return
		}
		for id := range s.pending { // answered in order: older ones are covered
			if id <= m.ID {
				delete(s.pending, id)
			}
		}
		b, _ := json.Marshal(pos)
		s.ckpt.Save(append(b, '\n'))
	case *watchFailed:
		s.m.errors.WithLabelValues("watch").Inc()
		s.log.Warn("dead-letter watch error; file checked again", "file", s.cfg.File, "err", m.err)
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		if s.log != nil {
			s.log.Debug("unhandled message", "type", fmt.Sprintf("%T", m))
		}
	}
}

func (s *Source) observed(ctx actor.Context, ob *observation) {
	if ob.Truncated {
		s.m.resets.WithLabelValues("truncated").Inc()
		s.log.Info("dead-letter file truncated; reading it from the start", "file", s.cfg.File)
	}
	if ob.Rotated {
		s.m.resets.WithLabelValues("rotated").Inc()
		s.log.Info("dead-letter file replaced; reading the new one from the start", "file", s.cfg.File)
	}
	if ob.Unparsed > 0 {
		s.m.unparsed.Add(float64(ob.Unparsed))
	}
	if ob.Count > 0 {
		s.m.lines.Add(float64(ob.Count))
		msg := fmt.Sprintf("%d historical dead letters in %s", ob.Count, s.cfg.File)
		if !ob.Historical {
			msg = fmt.Sprintf("%d new dead letters in %s", ob.Count, s.cfg.File)
		}
		if ob.LastError != "" {
			msg += "; last error: " + ob.LastError
		}
		ev := &messages.Event{Source: EventSource, Type: "error_critical", TS: s.deps.Clock.Now(), Data: map[string]any{
			"unit": s.cfg.Unit, "message": msg, "count": ob.Count, "last_error": ob.LastError,
			"historical": ob.Historical, "file": s.cfg.File, "offset": ob.Pos.Offset,
		}}
		s.m.events.Inc()
		ctx.Send(s.cfg.Dispatcher, ev)
	}
	s.nextID++
	s.pending[s.nextID] = ob.Pos
	ctx.Send(s.cfg.Dispatcher, &messages.Flush{ID: s.nextID, ReplyTo: ctx.Self()})
}

func (s *Source) start(ctx actor.Context) {
	s.log = s.deps.Logger.With("actor", "sources/deadletter")
	s.pending = map[uint64]Position{}
	s.ckpt = intentfile.NewLatestWriter(s.cfg.CheckpointFile, func(err error) {
		if err != nil {
			s.m.errors.WithLabelValues("checkpoint").Inc()
			s.log.Error("cannot write the dead-letter checkpoint", "file", s.cfg.CheckpointFile, "err", err)
			return
		}
		s.m.checkpoints.Inc()
	})
	resume, err := s.readCheckpoint()
	if err != nil {
		s.log.Warn("cannot read the dead-letter checkpoint; reading the file as a backlog", "file", s.cfg.CheckpointFile, "err", err)
	}
	dir := filepath.Dir(s.cfg.File)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		panic(fmt.Errorf("dead-letter directory %s: %w", dir, err)) // restarted with backoff
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		panic(fmt.Errorf("dead-letter watch: %w", err))
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		panic(fmt.Errorf("dead-letter watch on %s: %w", dir, err))
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
	fl := &follower{path: filepath.Clean(s.cfg.File), maxLine: s.cfg.MaxLineBytes, resume: resume}
	go func() {
		defer close(s.done)
		defer w.Close()
		defer fl.close()
		defer actors.Recover("dead-letter follower", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		s.follow(rctx, w, fl, resume == nil, func(m any) { root.Send(self, m) })
	}()
	s.deps.Stream.Publish(&messages.SourceObserved{At: s.deps.Clock.Now(), Source: EventSource, Target: s.cfg.File,
		Healthy: true, Detail: "following"})
	s.log.Info("following the dead-letter file", "file", s.cfg.File, "resume_offset", offsetOf(resume))
}

func offsetOf(p *Position) int64 {
	if p == nil {
		return -1
	}
	return p.Offset
}

// follow runs on the follower goroutine: a first check, then one check per
// change of the file (or its directory entry).
func (s *Source) follow(ctx context.Context, w *fsnotify.Watcher, fl *follower, historical bool, send func(any)) {
	dir := filepath.Dir(fl.path)
	check := func(first bool) {
		ob, err := fl.check()
		if err != nil {
			panic(fmt.Errorf("read %s: %w", fl.path, err))
		}
		ob.Historical = first && historical
		if first || ob.Count > 0 || ob.Truncated || ob.Rotated || ob.Pos.Offset != 0 {
			send(&ob)
		}
	}
	check(true)
	last := fl.pos
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			if name == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				panic(fmt.Errorf("dead-letter directory %s went away", dir)) // restart: re-made and watched again
			}
			if name != fl.path && fl.old == nil {
				continue // while a rotated file is open, its writes (under another name) count too
			}
			ob, err := fl.check()
			if err != nil {
				panic(fmt.Errorf("read %s: %w", fl.path, err))
			}
			if ob.Count > 0 || ob.Truncated || ob.Rotated || fl.pos != last {
				last = fl.pos
				send(&ob)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			send(&watchFailed{err: err})
			check(false) // an overflow may have hidden a change
		}
	}
}

func (s *Source) release() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
	if s.ckpt != nil {
		s.ckpt.Close()
		s.ckpt = nil
	}
}

func (s *Source) readCheckpoint() (*Position, error) {
	b, err := os.ReadFile(s.cfg.CheckpointFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Position
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", s.cfg.CheckpointFile, err)
	}
	return &p, nil
}

type metrics struct {
	lines, events, unparsed, checkpoints prometheus.Counter
	resets, errors                       *prometheus.CounterVec
}

// newMetrics registers the source's metrics on reg (once per registry: a
// second call returns the same collectors).
func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return register(reg, prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kloros_observer", Subsystem: "deadletter", Name: name, Help: help}))
	}
	cv := func(name, help, label string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kloros_observer", Subsystem: "deadletter", Name: name, Help: help}, []string{label}))
	}
	return &metrics{
		lines:       c("lines_total", "Dead letters (complete lines) read from the intent router's dead-letter file."),
		events:      c("events_total", "error_critical events sent for dead letters."),
		unparsed:    c("unparsed_lines_total", "Dead-letter lines that were not JSON objects (still counted as dead letters)."),
		checkpoints: c("checkpoints_total", "Positions checkpointed (each after its event was durable)."),
		resets:      cv("resets_total", "The dead-letter file was truncated or replaced (read again from the start).", "kind"),
		errors:      cv("errors_total", "Dead-letter watch and checkpoint errors.", "kind"),
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
