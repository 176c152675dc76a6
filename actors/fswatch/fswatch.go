//go:build linux

package fswatch

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/fsnotify/fsnotify"

	"github.com/kloros/kloros-observer/messages"
)

// Source watches paths with inotify and classifies what happens in
// them (SPEC §2.1): *.json created in a "promotions" directory →
// promotion_new; a name containing "phase_complete" created in a "signals"
// directory → phase_signal; a file named "ready" under a path containing
// "dream" created, written or touched → dream_heartbeat.
//
// A configured path that does not exist is covered by a watch on its nearest
// existing parent; as directories appear (mkdir -p included) the watch moves
// down, and files already inside a directory that appeared are reported, so
// nothing created between the mkdir and the watch is missed. A watched
// directory that is removed and created again is watched again. No polling.
//
// Receives: its reader goroutine's fsEvent / fsError / *actors.GoroutineFailed.
// Sends: *messages.Event to the dispatcher. The goroutine reading the
// watcher's channels is started on Started and released, with the watcher,
// on Stopping and Restarting.
type Source struct {
	cfg  Config
	deps actors.Deps
	log  *slog.Logger

	w       *fsnotify.Watcher
	watched map[string]bool
	// created holds files already reported as created, by an inotify
	// Create or by a scan of a directory that appeared, with the identity
	// of the file then. A scan of a directory watched anew, or the Create
	// echo of a file a scan found, does not report the same file twice; a
	// file made again under the same name (another inode or change time) is
	// new. Removal and rename forget the name.
	//
	// Keyed by a 64-bit hash of the path (not the path) so that
	// maxRemembered entries cost ~5 MB: an overflow rescan of a directory of
	// 50,000 files must still know which it reported (issue 15 #5).
	created map[uint64]fileID
	batch   []*messages.Event // non-nil during a scan: events wait here (see emit)
	cancel  context.CancelFunc
	done    chan struct{}
}

type fsEvent struct{ ev fsnotify.Event }
type fsError struct{ err error }

// New returns the source's producer.
func New(cfg Config, deps actors.Deps) actor.Producer {
	paths := make([]string, len(cfg.Paths))
	for i, p := range cfg.Paths {
		paths[i] = filepath.Clean(p)
	}
	cfg.Paths = paths
	return func() actor.Actor { return &Source{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (s *Source) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.release()
	case fsEvent:
		s.handle(ctx, m.ev)
	case fsError:
		if errors.Is(m.err, fsnotify.ErrEventOverflow) {
			s.deps.Metrics.FSWatch.Errors.WithLabelValues("overflow").Inc()
			s.ensureAll(ctx, false)
			// Events were lost: every watched directory is listed again and
			// files not yet reported (by identity) are reported now, once.
			dirs := make([]string, 0, len(s.watched))
			for d := range s.watched {
				dirs = append(dirs, d)
			}
			sort.Strings(dirs)
			reported := 0
			for _, d := range dirs {
				reported += s.scan(ctx, d, true)
			}
			s.log.Warn("inotify queue overflowed; rescanned every watched directory", "dirs", len(dirs),
				"files_reported", reported, "err", m.err)
			return
		}
		s.deps.Metrics.FSWatch.Errors.WithLabelValues("other").Inc()
		s.log.Warn("file watch error", "err", m.err)
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(s.log, m)
	}
}

func (s *Source) start(ctx actor.Context) {
	s.log = s.deps.Logger.With("actor", "sources/fswatch")
	w, err := fsnotify.NewWatcher()
	if err != nil {
		panic(err) // out of inotify instances: restart with backoff
	}
	s.w = w
	s.watched = map[string]bool{}
	s.created = map[uint64]fileID{}
	s.ensureAll(ctx, false)
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer close(s.done)
		defer actors.Recover("fswatch reader", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		for {
			select {
			case <-rctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				root.Send(self, fsEvent{ev})
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				root.Send(self, fsError{err})
			}
		}
	}()
	s.log.Info("watching paths", "paths", strings.Join(s.cfg.Paths, ","), "watched_dirs", len(s.watched))
}

func (s *Source) release() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.w.Close()
	s.cancel = nil
	s.deps.Metrics.FSWatch.Watches.Set(0)
}

// ensureAll places the deepest possible watch for every configured path.
// report: files found in directories newly watched are reported as created.
func (s *Source) ensureAll(ctx actor.Context, report bool) {
	pending := 0
	for _, p := range s.cfg.Paths {
		if !s.ensure(ctx, p, report) {
			pending++
		}
	}
	s.deps.Metrics.FSWatch.Pending.Set(float64(pending))
	s.deps.Metrics.FSWatch.Watches.Set(float64(len(s.watched)))
}

// ensure watches path (if a directory), its directory (if a file), or its
// nearest existing ancestor. It loops because directories may appear while it
// works (mkdir -p). It returns whether the path itself exists.
func (s *Source) ensure(ctx actor.Context, path string, report bool) bool {
	for {
		dir, exists := nearest(path)
		if s.watched[dir] {
			if d2, _ := nearest(path); d2 == dir {
				return exists
			}
			continue
		}
		if err := s.w.Add(dir); err != nil {
			s.deps.Metrics.FSWatch.Errors.WithLabelValues("watch").Inc()
			s.log.Warn("cannot watch directory", "dir", dir, "err", err)
			return exists
		}
		s.watched[dir] = true
		s.log.Debug("watching directory", "dir", dir, "for", path)
		// We watch dir because what was below it on the way to path is
		// gone; any watch we still list below it is on a deleted directory
		// (its removal may never be reported: inotify drops a directory's
		// own removal when its parent is watched, and the parent may be
		// watched only since just now). Forget those, so the loop watches
		// whatever exists there now.
		s.forgetBelow(dir)
		if report {
			s.scan(ctx, dir, false)
		}
		report = true // anything deeper appeared after we started
	}
}

// forgetBelow drops the watches listed under dir (not dir itself).
func (s *Source) forgetBelow(dir string) {
	for p := range s.watched {
		if strings.HasPrefix(p, dir+"/") {
			delete(s.watched, p)
			_ = s.w.Remove(p) // gone already if inotify dropped it
		}
	}
}

// nearest returns the directory to watch for path and whether path exists:
// path itself if it is a directory, its parent if it is a file, else the
// nearest existing ancestor.
func nearest(path string) (string, bool) {
	fi, err := os.Stat(path)
	if err == nil {
		if fi.IsDir() {
			return path, true
		}
		return filepath.Dir(path), true
	}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, false
		}
		if p == filepath.Dir(p) {
			return p, false
		}
	}
}

// scan reports the files already inside a directory that just appeared.
// It returns how many events it sent.
// batched: send them as EventBatches (an overflow rescan may find tens of
// thousands, which one message each would drop at the dispatcher's bounded
// mailbox).
func (s *Source) scan(ctx actor.Context, dir string, batched bool) (reported int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	if batched {
		s.batch = make([]*messages.Event, 0, scanBatch)
		defer func() { s.flushBatch(ctx); s.batch = nil }()
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if s.created1(ctx, filepath.Join(dir, n), fsnotify.Create) {
			reported++
		}
	}
	return reported
}

// fileID tells a file from another made later under the same name.
type fileID struct {
	dev, ino uint64
	ctime    int64
}

func identifyFile(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, ctime: st.Ctim.Nano()}, true
}

// created1 reports a created file unless this very file was reported already.
func (s *Source) created1(ctx actor.Context, path string, op fsnotify.Op) bool {
	id, ok := identifyFile(path)
	if ok {
		key := pathKey(path)
		if had, seen := s.created[key]; seen && had == id {
			return false
		}
		if len(s.created) >= maxRemembered {
			clear(s.created) // bounded; at worst a file is reported twice (the dispatcher dedups)
		}
		s.created[key] = id
	}
	return s.emit(ctx, path, op)
}

// maxRemembered bounds Source.created.
const maxRemembered = 1 << 18

func pathKey(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()
}

func (s *Source) handle(ctx actor.Context, ev fsnotify.Event) {
	path := filepath.Clean(ev.Name)
	switch {
	case ev.Has(fsnotify.Create):
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			if s.relevant(path) {
				// A directory made just now: whatever we listed as watched
				// at or below its path was the previous one's.
				if s.watched[path] {
					delete(s.watched, path)
					_ = s.w.Remove(path)
				}
				s.forgetBelow(path)
				s.ensureAll(ctx, true)
			}
			return
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		delete(s.created, pathKey(path)) // a file made again later is new
		if s.watched[path] {
			delete(s.watched, path) // inotify dropped the watch with the directory
			_ = s.w.Remove(path)
			s.log.Info("watched directory went away; watching its parent until it returns", "dir", path)
			s.ensureAll(ctx, true) // it may be back already, with files in it
			return
		}
	}
	if ev.Has(fsnotify.Create) {
		s.created1(ctx, path, ev.Op)
		return
	}
	s.emit(ctx, path, ev.Op)
}

// relevant reports whether dir is on the way to (or inside) a configured path.
func (s *Source) relevant(dir string) bool {
	for _, p := range s.cfg.Paths {
		if p == dir || strings.HasPrefix(p, dir+"/") || strings.HasPrefix(dir, p+"/") {
			return true
		}
	}
	return false
}

// Classify maps a file event to an event type (SPEC §2.1), "" for none.
func Classify(path string, op fsnotify.Op) string {
	name := filepath.Base(path)
	parent := filepath.Base(filepath.Dir(path))
	created := op.Has(fsnotify.Create)
	switch {
	case created && parent == "promotions" && strings.HasSuffix(name, ".json"):
		return "promotion_new"
	case created && parent == "signals" && strings.Contains(name, "phase_complete"):
		return "phase_signal"
	case name == "ready" && strings.Contains(filepath.Dir(path), "dream") &&
		(created || op.Has(fsnotify.Write) || op.Has(fsnotify.Chmod)):
		return "dream_heartbeat"
	}
	return ""
}

func (s *Source) emit(ctx actor.Context, path string, op fsnotify.Op) bool {
	typ := Classify(path, op)
	if typ == "" {
		return false
	}
	ev := &messages.Event{Source: "inotify", Type: typ, TS: s.deps.Clock.Now(),
		Data: map[string]any{"path": path, "name": filepath.Base(path), "op": op.String()}}
	if s.batch != nil { // a scan: sent in batches, so a big directory does not flood the dispatcher's mailbox
		s.batch = append(s.batch, ev)
		if len(s.batch) == scanBatch {
			s.flushBatch(ctx)
		}
		return true
	}
	ctx.Send(s.cfg.Dispatcher, ev)
	return true
}

// scanBatch is how many events a scan sends per message.
const scanBatch = 256

func (s *Source) flushBatch(ctx actor.Context) {
	if len(s.batch) > 0 {
		ctx.Send(s.cfg.Dispatcher, &messages.EventBatch{Events: s.batch})
		s.batch = make([]*messages.Event, 0, scanBatch)
	}
}
