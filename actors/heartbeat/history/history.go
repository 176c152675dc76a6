// Package history is the heartbeat monitor's durable availability record:
// every outage episode of every zooid (opened, closed, duration, incident
// id), appended to a JSON-lines file under the state dir, so that a daemon
// restart does not reset a zooid's uptime record. Availability over 1 h,
// 24 h, 7 d and the status-page bars are computed from it.
//
// File: one record per line, {"t":"start"|"seen"|"open"|"close", ...}. A
// batch of records is appended and fsynced once (a burst of 10,000 gaps is one
// fsync, not 10,000). A line torn by a crash mid-append is skipped on load.
// Retention (default 30 days) and a size bound (default 32 MiB) are kept by
// compaction: at open, and when the file outgrows the bound, it is rewritten
// atomically (tmp, fsync, rename, fsync of the directory) with only the
// episodes still inside the retention, oldest dropped first if it is still too
// big. Time the daemon was not running is not known: it counts as up.
//
// A Log is safe for concurrent use. Owns: the file handle (closed by Close).
// No goroutine: the dashboard's stream subscriber calls Append.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// Config sets the history.
type Config struct {
	// Path is the JSON-lines file (under the state dir).
	Path string `yaml:"-"`
	// Retention keeps episodes that closed within it (default 30 days).
	Retention time.Duration `yaml:"retention"`
	// MaxBytes bounds the file (default 32 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
}

// Defaults.
const (
	DefaultRetention = 30 * 24 * time.Hour
	DefaultMaxBytes  = 32 << 20
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Retention: DefaultRetention, MaxBytes: DefaultMaxBytes} }

// Validate checks the settings.
func (c *Config) Validate(v *config.Checker) {
	if c.Retention < time.Hour {
		v.Bad("retention", c.Retention, "must be at least 1h")
	}
	v.AtLeast("max_bytes", int(c.MaxBytes), 64<<10)
}

// Record is one line of the file.
type Record struct {
	T     string    `json:"t"` // start, seen, open, close
	Zooid string    `json:"z,omitempty"`
	Niche string    `json:"n,omitempty"`
	ID    string    `json:"id,omitempty"`
	At    time.Time `json:"at"`
	// Since is when the zooid was last heard (open only): the outage
	// counts from there.
	Since time.Time `json:"since,omitzero"`
}

// Episode is one outage of one zooid.
type Episode struct {
	Zooid      string    `json:"zooid"`
	Niche      string    `json:"niche"`
	IncidentID string    `json:"incident_id"`
	Since      time.Time `json:"since"`  // last heartbeat before the outage
	Opened     time.Time `json:"opened"` // when the gap was detected
	Closed     time.Time `json:"closed,omitzero"`
}

// Open reports whether the episode has not closed.
func (e *Episode) Open() bool { return e.Closed.IsZero() }

// Down is the outage's span [Since, Closed or now).
func (e *Episode) Down(now time.Time) (time.Time, time.Time) {
	end := e.Closed
	if end.IsZero() {
		end = now
	}
	start := e.Since
	if start.IsZero() || start.After(e.Opened) {
		start = e.Opened
	}
	return start, end
}

// Duration of the outage (up to now while open).
func (e *Episode) Duration(now time.Time) time.Duration {
	s, en := e.Down(now)
	return en.Sub(s)
}

type zooid struct {
	niche string
	first time.Time
	eps   []*Episode // by Opened
}

// Log is the history.
type Log struct {
	cfg Config
	now func() time.Time

	mu     sync.RWMutex
	f      *os.File
	size   int64
	start  time.Time // the history's own beginning
	zooids map[string]*zooid
}

// Open loads (and compacts) the history at cfg.Path, creating it if missing.
func Open(cfg Config, now func() time.Time) (*Log, error) {
	if now == nil {
		now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	l := &Log{cfg: cfg, now: now, zooids: map[string]*zooid{}}
	b, err := os.ReadFile(cfg.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("history: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a line torn by a crash mid-append
		}
		l.apply(r)
	}
	if l.start.IsZero() {
		l.start = now().Round(0).UTC()
	}
	if err := l.compact(); err != nil {
		return nil, err
	}
	return l, nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Since is when the history began.
func (l *Log) Since() time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

func (l *Log) apply(r Record) {
	switch r.T {
	case "start":
		if l.start.IsZero() || r.At.Before(l.start) {
			l.start = r.At
		}
		return
	}
	if r.Zooid == "" {
		return
	}
	z := l.zooids[r.Zooid]
	if z == nil {
		z = &zooid{niche: r.Niche, first: r.At}
		l.zooids[r.Zooid] = z
	}
	if r.Niche != "" {
		z.niche = r.Niche
	}
	switch r.T {
	case "seen":
		if r.At.Before(z.first) {
			z.first = r.At
		}
	case "open":
		for _, e := range z.eps {
			if e.IncidentID == r.ID {
				return // a repeat, or a duplicate after a crash
			}
		}
		since := r.Since
		if since.IsZero() {
			since = r.At
		}
		if since.Before(z.first) {
			z.first = since
		}
		z.eps = append(z.eps, &Episode{Zooid: r.Zooid, Niche: z.niche, IncidentID: r.ID, Since: since, Opened: r.At})
	case "close":
		for i := len(z.eps) - 1; i >= 0; i-- {
			if e := z.eps[i]; e.IncidentID == r.ID && e.Open() {
				e.Closed = r.At
				return
			}
		}
	}
}

// FromGap turns a registry observation into the record to append (ok false
// for a repeat, which changes nothing).
func FromGap(g *messages.GapObserved) (Record, bool) {
	switch g.Change {
	case messages.GapOpened:
		return Record{T: "open", Zooid: g.Zooid, Niche: g.Niche, ID: g.IncidentID, At: g.At.Round(0).UTC(), Since: g.LastSeen.Round(0).UTC()}, true
	case messages.GapClosed:
		return Record{T: "close", Zooid: g.Zooid, Niche: g.Niche, ID: g.IncidentID, At: g.At.Round(0).UTC()}, true
	}
	return Record{}, false
}

// FromZooid turns a first sighting into a "seen" record (ok false for
// anything else).
func FromZooid(z *messages.ZooidObserved) (Record, bool) {
	if z.Change != messages.ZooidFirstSeen {
		return Record{}, false
	}
	return Record{T: "seen", Zooid: z.Zooid, Niche: z.Niche, At: z.At.Round(0).UTC()}, true
}

// Append applies records and makes them durable with one fsync. A "seen"
// record for a zooid already known is not written again.
func (l *Log) Append(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var buf bytes.Buffer
	for _, r := range recs {
		if r.T == "seen" && l.zooids[r.Zooid] != nil {
			continue
		}
		l.apply(r)
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if buf.Len() == 0 {
		return nil
	}
	if l.f == nil {
		return errors.New("history: closed")
	}
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("history: append: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("history: fsync: %w", err)
	}
	l.size += int64(buf.Len())
	if l.size > l.cfg.MaxBytes {
		return l.compactLocked()
	}
	return nil
}

// Forget drops a zooid's record (the operator forgot the zooid).
func (l *Log) Forget(zooid string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.zooids[zooid]; !ok {
		return nil
	}
	delete(l.zooids, zooid)
	return l.compactLocked()
}

func (l *Log) compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.compactLocked()
}

// compactLocked drops what is past the retention, then the oldest closed
// episodes while the file would exceed half its bound, and rewrites the
// file atomically.
func (l *Log) compactLocked() error {
	now := l.now()
	horizon := now.Add(-l.cfg.Retention)
	type old struct {
		z string
		e *Episode
	}
	var closed []old
	for name, z := range l.zooids {
		z.eps = slices.DeleteFunc(z.eps, func(e *Episode) bool { return !e.Open() && e.Closed.Before(horizon) })
		for _, e := range z.eps {
			if !e.Open() {
				closed = append(closed, old{name, e})
			}
		}
	}
	body := l.encode()
	if int64(len(body)) > l.cfg.MaxBytes/2 && len(closed) > 0 {
		sort.Slice(closed, func(i, j int) bool { return closed[i].e.Closed.Before(closed[j].e.Closed) })
		drop := map[*Episode]bool{}
		excess := int64(len(body)) - l.cfg.MaxBytes/2
		for _, o := range closed {
			if excess <= 0 {
				break
			}
			drop[o.e] = true
			excess -= 2 * 160 // an episode is about two lines of this size
		}
		for _, z := range l.zooids {
			z.eps = slices.DeleteFunc(z.eps, func(e *Episode) bool { return drop[e] })
		}
		body = l.encode()
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	dir, name := filepath.Dir(l.cfg.Path), filepath.Base(l.cfg.Path)
	if err := intentfile.CommitBatch(dir, []intentfile.File{{Name: name, Body: body}})[0]; err != nil {
		return fmt.Errorf("history: rewrite %s: %w", l.cfg.Path, err)
	}
	f, err := os.OpenFile(l.cfg.Path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	l.f, l.size = f, int64(len(body))
	return nil
}

func (l *Log) encode() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(Record{T: "start", At: l.start})
	names := make([]string, 0, len(l.zooids))
	for n := range l.zooids {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		z := l.zooids[n]
		_ = enc.Encode(Record{T: "seen", Zooid: n, Niche: z.niche, At: z.first})
		for _, e := range z.eps {
			_ = enc.Encode(Record{T: "open", Zooid: n, Niche: e.Niche, ID: e.IncidentID, At: e.Opened, Since: e.Since})
			if !e.Open() {
				_ = enc.Encode(Record{T: "close", Zooid: n, ID: e.IncidentID, At: e.Closed})
			}
		}
	}
	return buf.Bytes()
}

// Episodes returns a zooid's episodes, newest first (copies).
func (l *Log) Episodes(zooid string) []Episode {
	l.mu.RLock()
	defer l.mu.RUnlock()
	z := l.zooids[zooid]
	if z == nil {
		return nil
	}
	out := make([]Episode, len(z.eps))
	for i, e := range z.eps {
		out[len(z.eps)-1-i] = *e
	}
	return out
}

// Availability is the fraction of [now-window, now] a zooid was up, counted
// from when the history first knew it (or began); known is false when no
// part of the window is covered.
func (l *Log) Availability(zooid string, now time.Time, window time.Duration) (frac float64, known bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.availability(l.zooids[zooid], now.Add(-window), now)
}

func (l *Log) availability(z *zooid, from, to time.Time) (float64, bool) {
	start := l.start
	if z != nil && z.first.After(start) {
		start = z.first
	}
	if start.After(from) {
		from = start
	}
	if !to.After(from) {
		return 0, false
	}
	if z == nil {
		return 1, true
	}
	var down time.Duration
	for _, e := range z.eps {
		s, en := e.Down(to)
		s, en = later(s, from), earlier(en, to)
		if en.After(s) {
			down += en.Sub(s)
		}
	}
	return max(0, 1-down.Seconds()/to.Sub(from).Seconds()), true
}

// Bars splits [now-window, now] into n buckets, oldest first, each the
// availability in it (-1: not known) — a status page's bars.
func (l *Log) Bars(zooid string, now time.Time, window time.Duration, n int) []float64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	z := l.zooids[zooid]
	out := make([]float64, n)
	step := window / time.Duration(n)
	for i := range n {
		from := now.Add(-window + time.Duration(i)*step)
		f, ok := l.availability(z, from, from.Add(step))
		if !ok {
			f = -1
		}
		out[i] = f
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
