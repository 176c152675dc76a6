// Package silence is the heartbeat monitor's silences: an operator mutes
// CAPABILITY_GAP for one zooid, a niche, or a name pattern until a time, with
// a comment (planned maintenance, a decommissioned zooid) — Alertmanager's
// silences, for zooids.
//
// A Store is safe for concurrent use. Match is the hot path (every watcher
// about to publish a gap, and the dashboard listing 100,000 zooids calls it):
// it reads an immutable, atomically swapped list of the silences still in
// force, with their patterns compiled, and takes no lock. Add and Expire
// write the whole store atomically (tmp, fsync, rename, fsync of the
// directory) before they return, so a silence an operator was told about
// survives a crash; expiry by time is automatic (Match ignores a silence
// whose end passed), and expired silences stay listed for a day, then are
// dropped.
//
// Owns: the store's file, written only from Add and Expire. No goroutine,
// no timer.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// Limits on what a caller may store. Inputs past them are refused with a
// FieldError naming the field.
const (
	MaxSilences   = 1000
	MaxNameLen    = 256
	MaxPatternLen = 256
	MaxCommentLen = 1024
	MaxDuration   = 366 * 24 * time.Hour
	// KeepExpired is how long an expired silence stays listed.
	KeepExpired = 24 * time.Hour
)

// ErrNotFound is returned by Expire for an unknown id.
var ErrNotFound = errors.New("no such silence")

// FieldError is a refused input: Field names the offending field as the API
// and the CLI spell it.
type FieldError struct {
	Field string
	Value string
	Why   string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Why)
	}
	return fmt.Sprintf("%s = %q: %s", e.Field, e.Value, e.Why)
}

// Spec is what an operator asks for. At least one of Zooid, Niche and
// Pattern is set; a silence matches a zooid when every matcher set matches
// (Zooid and Niche exactly, Pattern as an RE2 regexp anchored on the whole
// zooid name).
type Spec struct {
	Zooid   string    `json:"zooid,omitempty"`
	Niche   string    `json:"niche,omitempty"`
	Pattern string    `json:"pattern,omitempty"`
	Until   time.Time `json:"until"`
	Comment string    `json:"comment"`
	// CreatedBy is who asked (the API fills in the basic-auth user or
	// "loopback").
	CreatedBy string `json:"created_by,omitempty"`
}

// Silence is one stored silence.
type Silence struct {
	ID string `json:"id"`
	Spec
	CreatedAt time.Time `json:"created_at"`
	// ExpiredAt is set when an operator ended it before Until.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`

	re *regexp.Regexp
}

// End is when the silence stops (or stopped) being in force.
func (s *Silence) End() time.Time {
	if s.ExpiredAt != nil && s.ExpiredAt.Before(s.Until) {
		return *s.ExpiredAt
	}
	return s.Until
}

// Active reports whether the silence is in force at now.
func (s *Silence) Active(now time.Time) bool { return now.Before(s.End()) }

// State is "active" or "expired" at now.
func (s *Silence) State(now time.Time) string {
	if s.Active(now) {
		return "active"
	}
	return "expired"
}

// Matches reports whether the silence's matchers select the zooid (in force
// or not).
func (s *Silence) Matches(zooid, niche string) bool {
	if s.Zooid != "" && s.Zooid != zooid {
		return false
	}
	if s.Niche != "" && s.Niche != niche {
		return false
	}
	if s.re != nil && !s.re.MatchString(zooid) {
		return false
	}
	return true
}

// Validate checks a spec at now; it compiles the pattern.
func (sp *Spec) Validate(now time.Time) (*regexp.Regexp, error) {
	if sp.Zooid == "" && sp.Niche == "" && sp.Pattern == "" {
		return nil, &FieldError{Field: "zooid", Why: "one of zooid, niche or pattern is required"}
	}
	for _, f := range []struct{ name, v string }{{"zooid", sp.Zooid}, {"niche", sp.Niche}, {"created_by", sp.CreatedBy}} {
		if len(f.v) > MaxNameLen {
			return nil, &FieldError{Field: f.name, Why: fmt.Sprintf("longer than %d bytes", MaxNameLen)}
		}
		if !utf8.ValidString(f.v) {
			return nil, &FieldError{Field: f.name, Why: "not valid UTF-8"}
		}
	}
	if len(sp.Comment) > MaxCommentLen || !utf8.ValidString(sp.Comment) {
		return nil, &FieldError{Field: "comment", Why: fmt.Sprintf("must be valid UTF-8 of at most %d bytes", MaxCommentLen)}
	}
	var re *regexp.Regexp
	if sp.Pattern != "" {
		if len(sp.Pattern) > MaxPatternLen {
			return nil, &FieldError{Field: "pattern", Why: fmt.Sprintf("longer than %d bytes", MaxPatternLen)}
		}
		var err error
		if re, err = regexp.Compile("^(?:" + sp.Pattern + ")$"); err != nil {
			return nil, &FieldError{Field: "pattern", Value: sp.Pattern, Why: "not a regular expression: " + err.Error()}
		}
	}
	switch {
	case sp.Until.IsZero():
		return nil, &FieldError{Field: "until", Why: "required (RFC 3339 time)"}
	case !sp.Until.After(now):
		return nil, &FieldError{Field: "until", Value: sp.Until.Format(time.RFC3339), Why: "must be in the future"}
	case sp.Until.Sub(now) > MaxDuration:
		return nil, &FieldError{Field: "until", Value: sp.Until.Format(time.RFC3339), Why: "more than 366 days ahead"}
	}
	return re, nil
}

// Store holds the silences, persisted in one file.
type Store struct {
	path string
	now  func() time.Time

	mu  sync.Mutex // serialises writers
	all []*Silence // every stored silence, oldest first (writers only)

	active atomic.Pointer[[]*Silence] // in force when last written; Match re-checks the end
}

// fileForm is the store's on-disk form.
type fileForm struct {
	Version  int        `json:"version"`
	Silences []*Silence `json:"silences"`
}

// Open loads the store from path (a missing file is an empty store). now
// gives the time (nil: time.Now).
func Open(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	st := &Store{path: path, now: now}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("silences: %w", err)
	default:
		var f fileForm
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("silences %s: %w", path, err)
		}
		for _, s := range f.Silences {
			if s == nil || s.ID == "" {
				continue
			}
			if s.Pattern != "" {
				re, err := regexp.Compile("^(?:" + s.Pattern + ")$")
				if err != nil {
					return nil, fmt.Errorf("silences %s: silence %s: pattern %q: %w", path, s.ID, s.Pattern, err)
				}
				s.re = re
			}
			st.all = append(st.all, s)
		}
	}
	st.publish()
	return st, nil
}

// Path is the store's file.
func (st *Store) Path() string { return st.path }

// Add validates and stores a silence, durably, and returns it.
func (st *Store) Add(sp Spec) (*Silence, error) {
	now := st.now()
	re, err := sp.Validate(now)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	all := st.pruned(now)
	if len(all) >= MaxSilences {
		return nil, &FieldError{Field: "silences", Why: fmt.Sprintf("at most %d silences are kept; expire some first", MaxSilences)}
	}
	s := &Silence{ID: newID(), Spec: sp, CreatedAt: now.Round(0).UTC(), re: re}
	s.Until = s.Until.Round(0).UTC()
	all = append(all, s)
	if err := st.write(all); err != nil {
		return nil, err
	}
	st.all = all
	st.publish()
	return s, nil
}

// Expire ends a silence now. Expiring an expired silence is not an error.
func (st *Store) Expire(id string) (*Silence, error) {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	all := st.pruned(now)
	i := slices.IndexFunc(all, func(s *Silence) bool { return s.ID == id })
	if i < 0 {
		return nil, ErrNotFound
	}
	if !all[i].Active(now) {
		return all[i], nil
	}
	c := *all[i] // copy: readers may hold the old one
	at := now.Round(0).UTC()
	c.ExpiredAt = &at
	all[i] = &c
	if err := st.write(all); err != nil {
		return nil, err
	}
	st.all = all
	st.publish()
	return &c, nil
}

// List returns every silence kept, active ones first, then by end.
func (st *Store) List() []*Silence {
	now := st.now()
	st.mu.Lock()
	out := slices.Clone(st.all)
	st.mu.Unlock()
	slices.SortStableFunc(out, func(a, b *Silence) int {
		if a.Active(now) != b.Active(now) {
			if a.Active(now) {
				return -1
			}
			return 1
		}
		return a.End().Compare(b.End())
	})
	return out
}

// Get returns one silence by id.
func (st *Store) Get(id string) (*Silence, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.all {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}

// Match returns the silence in force at now that selects the zooid (the one
// ending last), or nil. It takes no lock.
func (st *Store) Match(zooid, niche string, now time.Time) *Silence {
	if st == nil {
		return nil
	}
	var best *Silence
	for _, s := range *st.active.Load() {
		if s.Active(now) && s.Matches(zooid, niche) && (best == nil || s.End().After(best.End())) {
			best = s
		}
	}
	return best
}

// pruned returns the silences still worth keeping at now (a fresh slice).
func (st *Store) pruned(now time.Time) []*Silence {
	return slices.DeleteFunc(slices.Clone(st.all), func(s *Silence) bool {
		return now.Sub(s.End()) > KeepExpired
	})
}

func (st *Store) publish() {
	now := st.now()
	var act []*Silence
	for _, s := range st.all {
		if s.Active(now) {
			act = append(act, s)
		}
	}
	st.active.Store(&act)
}

func (st *Store) write(all []*Silence) error {
	b, err := json.MarshalIndent(fileForm{Version: 1, Silences: all}, "", "  ")
	if err != nil {
		return err
	}
	dir, name := filepath.Dir(st.path), filepath.Base(st.path)
	if err := intentfile.CommitBatch(dir, []intentfile.File{{Name: name, Body: append(b, '\n')}})[0]; err != nil {
		return fmt.Errorf("silences: write %s: %w", st.path, err)
	}
	return nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
