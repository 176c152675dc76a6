//go:build linux

package journald

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coreos/go-systemd/v22/sdjournal"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/journald/classify"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// Source reads the journal natively (sdjournal) and never loses or
// repeats an entry across restarts.
//
// A reader goroutine owns the journal handle (sdjournal is not safe to share)
// and sends batches of classified entries, with the cursor of the last entry
// read, to the actor. The actor sends the events to the dispatcher followed
// by a Flush barrier; only when the dispatcher answers Flushed — every event
// before it spooled and every intent it caused written — is that cursor
// checkpointed (atomically). A quiet, filtered source still checkpoints the
// cursor of the last entry read every CheckpointInterval, through the same
// barrier. On start the reader seeks to the checkpoint and skips that entry;
// with none it starts at the tail of the system journal, the head of Dir, or
// Since. A checkpoint no longer in the journal (vacuumed) falls back to the
// oldest entry and logs how many may have been missed.
//
// Receives: its reader's batches and failures, Flushed, its timer. Sends:
// *messages.EventBatch and *messages.Flush to the dispatcher. Releases the
// reader (cancel; wait; close) and its timer on Stopping and Restarting.
type Source struct {
	cfg  Config
	deps actors.Deps
	log  *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	stop   timer.Cancel

	nextID  uint64
	pending map[uint64]string // flush id -> cursor it makes durable
	// credits bounds the batches of events in flight (sent and not yet
	// answered by their Flush): the reader takes one before sending a batch
	// with events, the actor gives it back when the batch's Flush is
	// answered. Without it a backlog (30,000 critical lines after a restart)
	// overran the emitter's bounded mailbox: 14,889 intents dropped there
	// while the barrier behind them passed, so the cursor was checkpointed
	// past intents never written.
	credits   chan struct{}
	credited  map[uint64]bool // flush ids that hold a credit
	lastRead  string          // cursor of the last entry read
	lastSent  string          // cursor covered by the last Flush sent
	lastFlush time.Time
	ckpt      *intentfile.LatestWriter // the cursor's checkpoint file
}

type journalBatch struct {
	events []*messages.Event
	cursor string // of the last entry in the batch
}

type journalTick struct{}

// New returns the source's producer.
func New(cfg Config, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &Source{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (s *Source) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.release()
	case *journalBatch:
		s.lastRead = m.cursor
		if len(m.events) > 0 {
			ctx.Send(s.cfg.Dispatcher, &messages.EventBatch{Events: m.events})
			s.flush(ctx)
			s.credited[s.nextID] = true
		}
	case journalTick:
		// A quiet source: make the cursor of entries read (even unmatched)
		// durable, so a restart does not re-read them.
		if s.lastRead != "" && s.lastRead != s.lastSent && (len(s.pending) == 0 || time.Since(s.lastFlush) > time.Minute) {
			s.flush(ctx)
		}
	case *messages.Flushed:
		cur, ok := s.pending[m.ID]
		if !ok {
			return
		}
		for id := range s.pending { // barriers are answered in order; older ones are covered
			if id <= m.ID {
				delete(s.pending, id)
				if s.credited[id] {
					delete(s.credited, id)
					select {
					case <-s.credits:
					default:
					}
				}
			}
		}
		s.checkpoint(cur)
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(s.log, m)
	}
}

// maxInflightBatches bounds the batches of up to 256 events a source has
// sent and not yet seen acknowledged (see Source.credits): 2,048 events,
// well under the dispatcher's, rules' and emitter's mailbox bound (10,000).
const maxInflightBatches = 8

func (s *Source) flush(ctx actor.Context) {
	s.nextID++
	s.pending[s.nextID] = s.lastRead
	s.lastSent, s.lastFlush = s.lastRead, time.Now()
	ctx.Send(s.cfg.Dispatcher, &messages.Flush{ID: s.nextID, ReplyTo: ctx.Self()})
}

func (s *Source) start(ctx actor.Context) {
	s.log = s.deps.Logger.With("actor", "sources/journald_"+s.cfg.Name)
	s.pending, s.credited = map[uint64]string{}, map[uint64]bool{}
	credits := make(chan struct{}, maxInflightBatches)
	s.credits = credits
	s.ckpt = intentfile.NewLatestWriter(s.cfg.CheckpointFile, func(err error) {
		if err != nil {
			s.log.Error("cannot write the journal checkpoint", "file", s.cfg.CheckpointFile, "err", err)
			return
		}
		s.deps.Metrics.Journald.Checkpoints.WithLabelValues(s.cfg.Name).Inc()
	})
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
	cursor := s.readCheckpoint()
	go func() {
		defer close(s.done)
		defer actors.Recover("journal reader", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		s.read(rctx, cursor, func(b *journalBatch) {
			if len(b.events) > 0 {
				select {
				case credits <- struct{}{}:
				case <-rctx.Done():
					return // stopping: the batch was never acknowledged, so it is read again
				}
			}
			root.Send(self, b)
		})
	}()
	s.stop = timer.Every(ctx.ActorSystem(), s.cfg.CheckpointInterval, s.cfg.CheckpointInterval, self, journalTick{})
}

func (s *Source) release() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
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

func (s *Source) readCheckpoint() string {
	b, err := os.ReadFile(s.cfg.CheckpointFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot read the journal checkpoint; starting without it", "file", s.cfg.CheckpointFile, "err", err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *Source) checkpoint(cursor string) { s.ckpt.Save([]byte(cursor + "\n")) }

// read runs on the reader goroutine: open (retrying with backoff), position,
// then follow. It is the only user of the journal handle.
func (s *Source) read(ctx context.Context, cursor string, send func(*journalBatch)) {
	reopened := false
	for ctx.Err() == nil {
		var again bool
		if cursor, again = s.readOnce(ctx, cursor, reopened, send); !again {
			return
		}
		reopened = true
	}
}

// dirCheckEvery is how often an idle reader of a --journal-dir checks that
// the directory it opened is still the one at that path.
const dirCheckEvery = time.Second

// readOnce opens the journal at cursor and reads until ctx is done, or —
// with a --journal-dir — until the directory is removed or replaced (rm -rf
// and mkdir, a restore): sd-journal watches the directory it opened with
// inotify, so it never sees files in a new one, and the reader stalled
// silently (issue 15 #1). Then it returns the cursor of the last entry read
// and true, and read opens the new directory after that cursor. Files
// rotated, added or vacuumed inside the directory are sd-journal's own
// business (its inotify watch sees them).
func (s *Source) readOnce(ctx context.Context, cursor string, reopened bool, send func(*journalBatch)) (string, bool) {
	m := s.deps.Metrics.Journald
	delay := 100 * time.Millisecond
	var j *sdjournal.Journal
	for {
		var err error
		j, err = s.open(cursor, reopened)
		if err == nil {
			break
		}
		m.Errors.WithLabelValues(s.cfg.Name, "open").Inc()
		if delay == 100*time.Millisecond {
			s.log.Error("cannot open the journal; retrying with backoff", "dir", s.cfg.Dir, "err", err)
			s.deps.Stream.Publish(&messages.SourceObserved{At: time.Now(), Source: "journald", Target: s.cfg.Name, Healthy: false, Detail: err.Error()})
		}
		select {
		case <-ctx.Done():
			return cursor, false
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
		if reopened {
			delay = min(delay, 2*time.Second) // the directory is expected back soon
		}
	}
	defer j.Close()
	opened, _ := dirIdentity(s.cfg.Dir)
	lastCheck := time.Now()
	if delay > 100*time.Millisecond {
		s.log.Info("journal opened after retrying")
	}
	s.deps.Stream.Publish(&messages.SourceObserved{At: time.Now(), Source: "journald", Target: s.cfg.Name, Healthy: true, Detail: "journal open"})
	ctr := s.counters()
	for ctx.Err() == nil {
		batch := &journalBatch{}
		readAny, lastIsEvent := false, false
		for read := 0; len(batch.events) < 256 && read < 4096; read++ {
			n, err := j.Next()
			if err != nil {
				m.Errors.WithLabelValues(s.cfg.Name, "read").Inc()
				break
			}
			if n == 0 {
				break
			}
			if ev := s.entry(j, ctr); ev != nil {
				batch.events = append(batch.events, ev)
				batch.cursor = ev.Data["cursor"].(string)
				lastIsEvent = true
			} else {
				lastIsEvent = false
			}
			readAny = true
		}
		if readAny && !lastIsEvent { // the journal is still on the last entry read
			if cur, err := j.GetCursor(); err == nil {
				batch.cursor = cur
			} else {
				m.Errors.WithLabelValues(s.cfg.Name, "read").Inc()
			}
		}
		if batch.cursor != "" {
			send(batch)
			cursor = batch.cursor
			continue
		}
		if s.cfg.Dir != "" && time.Since(lastCheck) >= dirCheckEvery {
			lastCheck = time.Now()
			if now, ok := dirIdentity(s.cfg.Dir); !ok || now != opened {
				m.Errors.WithLabelValues(s.cfg.Name, "dir_replaced").Inc()
				s.log.Warn("journal directory removed or replaced; reopening it after the last entry read", "dir", s.cfg.Dir)
				return cursor, true
			}
		}
		j.Wait(250 * time.Millisecond) // returns early on append or rotation
	}
	return cursor, false
}

// dirIdentity tells a directory from another made later at the same path:
// device, inode and birth time (an inode number is often reused at once by
// rm -rf; mkdir). Where the filesystem has no birth time, the change time
// stands in: it also moves when a file is added, which costs a harmless
// reopen at the same cursor. "" dir: none.
func dirIdentity(dir string) ([4]int64, bool) {
	var st unix.Statx_t
	if dir == "" || unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_INO|unix.STATX_BTIME|unix.STATX_CTIME, &st) != nil {
		return [4]int64{}, dir == ""
	}
	t := st.Ctime
	if st.Mask&unix.STATX_BTIME != 0 {
		t = st.Btime
	}
	return [4]int64{int64(unix.Mkdev(st.Dev_major, st.Dev_minor)), int64(st.Ino), t.Sec, int64(t.Nsec)}, true
}

// open opens the journal with the source's matches and positions it.
func (s *Source) open(cursor string, reopened bool) (*sdjournal.Journal, error) {
	var j *sdjournal.Journal
	var err error
	if s.cfg.Dir != "" {
		if _, statErr := os.Stat(s.cfg.Dir); statErr != nil {
			return nil, statErr
		}
		j, err = sdjournal.NewJournalFromDir(s.cfg.Dir)
	} else {
		j, err = sdjournal.NewJournal()
	}
	if err != nil {
		return nil, err
	}
	if err := s.match(j); err != nil {
		j.Close()
		return nil, err
	}
	_ = j.SetDataThreshold(uint64(s.cfg.MaxMessageBytes) + 1024)
	from := "the system journal"
	if s.cfg.Dir != "" {
		from = s.cfg.Dir
	}
	what := "units " + strings.Join(s.cfg.Units, ",")
	if s.cfg.ReadKernel {
		what = "kernel messages"
	}
	resume := func(where string) { s.log.Info("reading the journal", "journal", from, "reading", what, "from", where) }
	switch {
	case cursor != "":
		if err := j.SeekCursor(cursor); err == nil {
			if n, _ := j.Next(); n > 0 && j.TestCursor(cursor) == nil {
				resume("after the checkpointed cursor " + cursor)
				return j, nil // positioned on the checkpointed entry: reading resumes after it
			}
		}
		if reopened { // a new directory: its entries are all new to us
			s.log.Info("reading the re-created journal directory from its oldest entry", "dir", s.cfg.Dir)
			err = j.SeekHead()
			break
		}
		missed := s.estimateMissed(j, cursor)
		s.deps.Metrics.Journald.Missed.WithLabelValues(s.cfg.Name).Add(float64(missed))
		s.log.Warn("checkpointed journal cursor no longer exists (vacuumed?); starting at the oldest entry",
			"cursor", cursor, "entries_possibly_missed", missed)
		err = j.SeekHead()
		resume("the oldest entry (the checkpoint is gone)")
	case !s.cfg.Start.IsZero():
		err = j.SeekRealtimeUsec(uint64(s.cfg.Start.UnixMicro()))
		resume("journald.since " + s.cfg.Start.Format(time.RFC3339) + " (no checkpoint)")
	case s.cfg.Dir != "":
		err = j.SeekHead()
		resume("the oldest entry (no checkpoint)")
	default:
		if err = j.SeekTail(); err == nil {
			_, err = j.Previous() // on the last entry: only new ones are read
		}
		resume("the newest entry (no checkpoint): only new entries")
	}
	if err != nil {
		j.Close()
		return nil, fmt.Errorf("seek: %w", err)
	}
	return j, nil
}

// estimateMissed guesses how many entries fell between a vacuumed cursor and
// the oldest entry left, from the sequence numbers in the cursors.
func (s *Source) estimateMissed(j *sdjournal.Journal, cursor string) int64 {
	if j.SeekHead() != nil {
		return 0
	}
	if n, _ := j.Next(); n == 0 {
		return 0
	}
	head, err := j.GetCursor()
	if err != nil {
		return 0
	}
	a, b := cursorSeq(cursor), cursorSeq(head)
	if a >= 0 && b > a {
		return b - a - 1
	}
	return 0
}

func cursorSeq(c string) int64 {
	for _, part := range strings.Split(c, ";") {
		if v, ok := strings.CutPrefix(part, "i="); ok {
			n, err := strconv.ParseInt(v, 16, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func (s *Source) match(j *sdjournal.Journal) error {
	if s.cfg.ReadKernel {
		return j.AddMatch("_TRANSPORT=kernel")
	}
	if s.cfg.ReadManager {
		// systemd's own messages about the units ("Scheduled restart job",
		// "Failed with result"): PID 1 logs them from init.scope with
		// UNIT=<unit>, a user manager (_COMM=systemd) with USER_UNIT=<unit>.
		// Matches of one field OR, of different fields AND, and a disjunction
		// starts a new group: (init.scope AND UNIT in units) OR (systemd AND
		// USER_UNIT in units).
		for i, group := range [][2]string{{"_SYSTEMD_UNIT=init.scope", "UNIT="}, {"_COMM=systemd", "USER_UNIT="}} {
			if i > 0 {
				if err := j.AddDisjunction(); err != nil {
					return err
				}
			}
			if err := j.AddMatch(group[0]); err != nil {
				return err
			}
			for _, u := range s.cfg.Units {
				if err := j.AddMatch(group[1] + u); err != nil {
					return err
				}
			}
		}
		return nil
	}
	field := "_SYSTEMD_UNIT"
	if s.cfg.Match == "identifier" {
		field = "SYSLOG_IDENTIFIER"
	}
	for i, u := range s.cfg.Units {
		if i > 0 {
			if err := j.AddDisjunction(); err != nil {
				return err
			}
		}
		if err := j.AddMatch(field + "=" + u); err != nil {
			return err
		}
	}
	return nil
}

// journalCounters are the source's metric handles, looked up once.
type journalCounters struct {
	entries, events, bytes, truncated prometheus.Counter
	age                               prometheus.Gauge
}

func (s *Source) counters() *journalCounters {
	m, n := s.deps.Metrics.Journald, s.cfg.Name
	return &journalCounters{entries: m.Entries.WithLabelValues(n), events: m.Events.WithLabelValues(n),
		bytes: m.Bytes.WithLabelValues(n), truncated: m.Truncated.WithLabelValues(n), age: m.LastAge.WithLabelValues(n)}
}

// entry reads the current entry and classifies it; nil when it is no event.
func (s *Source) entry(j *sdjournal.Journal, m *journalCounters) *messages.Event {
	m.entries.Inc()
	raw, _ := j.GetDataValueBytes("MESSAGE")
	m.bytes.Add(float64(len(raw)))
	msg := string(raw)
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD") // binary MESSAGE
	}
	if len(msg) > s.cfg.MaxMessageBytes {
		cut := s.cfg.MaxMessageBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + fmt.Sprintf("…[truncated %d bytes]", len(msg)-cut)
		m.truncated.Inc()
	}
	unit := ""
	switch {
	case s.cfg.ReadKernel:
		unit = "kernel"
	case len(s.cfg.Units) == 1:
		unit = s.cfg.Units[0] // the match admits only this one: no need to read it
	case s.cfg.ReadManager:
		var err error
		if unit, err = j.GetDataValue("UNIT"); err != nil { // PID 1's; a user manager's is USER_UNIT
			unit, _ = j.GetDataValue("USER_UNIT")
		}
	case s.cfg.Match == "identifier":
		unit, _ = j.GetDataValue("SYSLOG_IDENTIFIER")
	default:
		unit, _ = j.GetDataValue("_SYSTEMD_UNIT")
	}
	prio := -1
	if p, err := j.GetDataValue("PRIORITY"); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			prio = n
		}
	}
	var typ string
	if s.cfg.ReadManager {
		typ = classify.Manager(msg)
	} else {
		typ = classify.Entry(unit, msg, prio, s.cfg.ReadKernel)
	}
	if typ == "" {
		return nil
	}
	usec, _ := j.GetRealtimeUsec()
	ts := time.UnixMicro(int64(usec))
	m.age.Set(time.Since(ts).Seconds())
	cur, err := j.GetCursor()
	if err != nil {
		return nil
	}
	m.events.Inc()
	data := map[string]any{"unit": unit, "message": msg, "priority": prio, "cursor": cur}
	classify.AddFields(typ, msg, data)
	return &messages.Event{Source: "journald", Type: typ, TS: ts, Data: data}
}
