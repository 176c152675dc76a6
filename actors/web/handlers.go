package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

var states = []string{StateSilent, StateGrace, StateSilenced, StateAlive}

// stateRank orders problems first.
func stateRank(s string) int { return slices.Index(states, s) }

// zooidRow is a zooid with the silence that covers it.
type zooidRow struct {
	Zooid
	silence *silence.Silence
}

type snapshot struct {
	at     time.Time
	rows   []zooidRow // by name
	counts map[string]int
	niches map[string]map[string]int
}

// snapshotTTL is how long one registry snapshot answers requests: a page
// and a CLI polling together cost one snapshot, and the page's live updates
// come from the stream anyway.
const snapshotTTL = 250 * time.Millisecond

func (s *Server) snapshot() *snapshot {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	now := s.o.Now()
	ttl := s.o.SnapshotTTL
	if ttl == 0 {
		ttl = snapshotTTL
	}
	if s.snap != nil && now.Sub(s.snap.at) < ttl && !now.Before(s.snap.at) {
		return s.snap
	}
	var zs []Zooid
	if s.o.Zooids != nil {
		zs = s.o.Zooids.Zooids()
	}
	sn := &snapshot{at: now, rows: make([]zooidRow, len(zs)), counts: map[string]int{}, niches: map[string]map[string]int{}}
	for _, st := range states {
		sn.counts[st] = 0
	}
	for i, z := range zs {
		row := zooidRow{Zooid: z}
		if sl := s.o.Silences.Match(z.Name, z.Niche, now); sl != nil {
			row.silence = sl
			row.State = StateSilenced
		}
		sn.rows[i] = row
		sn.counts[row.State]++
		n := sn.niches[z.Niche]
		if n == nil {
			n = map[string]int{}
			sn.niches[z.Niche] = n
		}
		n[row.State]++
	}
	byName := func(a, b zooidRow) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(sn.rows, byName) { // the registry's View is sorted already: one pass
		slices.SortFunc(sn.rows, byName)
	}
	s.snap = sn
	return sn
}

// ZooidJSON is one zooid in the API.
type ZooidJSON struct {
	Name             string              `json:"name"`
	Niche            string              `json:"niche"`
	State            string              `json:"state"`
	LastSeen         time.Time           `json:"last_seen,omitzero"`
	ThresholdSeconds float64             `json:"threshold_seconds"`
	IncidentID       string              `json:"incident_id,omitempty"`
	SilentSince      time.Time           `json:"silent_since,omitzero"`
	SilencedBy       *SilenceRef         `json:"silenced_by,omitempty"`
	Availability     map[string]*float64 `json:"availability,omitempty"`
}

// SilenceRef names the silence covering a zooid.
type SilenceRef struct {
	ID      string    `json:"id"`
	Until   time.Time `json:"until"`
	Comment string    `json:"comment"`
}

var availWindows = []struct {
	name string
	d    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

func (s *Server) zooidJSON(r *zooidRow, now time.Time) ZooidJSON {
	z := ZooidJSON{Name: r.Name, Niche: r.Niche, State: r.State, LastSeen: r.LastSeen,
		ThresholdSeconds: r.Threshold.Seconds(), IncidentID: r.Incident, SilentSince: r.SilentSince}
	if r.silence != nil {
		z.SilencedBy = &SilenceRef{ID: r.silence.ID, Until: r.silence.End(), Comment: r.silence.Comment}
	}
	if s.o.History != nil {
		z.Availability = map[string]*float64{}
		for _, w := range availWindows {
			if f, ok := s.o.History.Availability(r.Name, now, w.d); ok {
				z.Availability[w.name] = &f
			} else {
				z.Availability[w.name] = nil
			}
		}
	}
	return z
}

// ZooidsJSON is GET /api/v1/zooids.
type ZooidsJSON struct {
	Total  int                       `json:"total"` // matching the filters
	Offset int                       `json:"offset"`
	Limit  int                       `json:"limit"`
	Counts map[string]int            `json:"counts"` // every zooid, by state
	Niches map[string]map[string]int `json:"niches"` // every zooid, by niche and state
	Zooids []ZooidJSON               `json:"zooids"`
}

// MaxZooidsPage bounds one page of /api/v1/zooids.
const MaxZooidsPage = 100000

func (s *Server) zooids(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "state", "niche", "q", "limit", "offset", "sort")
	st := q.list("state", states)
	niche := q.str("niche", silence.MaxNameLen)
	search := strings.ToLower(q.str("q", silence.MaxNameLen))
	limit := q.int("limit", 1000, 1, MaxZooidsPage)
	offset := q.int("offset", 0, 0, 1<<30)
	sortBy := q.list("sort", []string{"name", "state", "last_seen"})
	if q.bad(w) {
		return
	}
	sn := s.snapshot()
	rows := sn.rows
	if len(st) > 0 || niche != "" || search != "" {
		rows = make([]zooidRow, 0, 64)
		for i := range sn.rows {
			z := &sn.rows[i]
			if (len(st) == 0 || slices.Contains(st, z.State)) && (niche == "" || z.Niche == niche) &&
				(search == "" || strings.Contains(strings.ToLower(z.Name), search) || strings.Contains(strings.ToLower(z.Niche), search)) {
				rows = append(rows, *z)
			}
		}
	}
	if len(sortBy) > 0 && sortBy[0] != "name" {
		rows = slices.Clone(rows)
		switch sortBy[0] {
		case "state":
			slices.SortStableFunc(rows, func(a, b zooidRow) int { return stateRank(a.State) - stateRank(b.State) })
		case "last_seen":
			slices.SortStableFunc(rows, func(a, b zooidRow) int { return a.LastSeen.Compare(b.LastSeen) })
		}
	}
	out := ZooidsJSON{Total: len(rows), Offset: offset, Limit: limit, Counts: sn.counts, Niches: sn.niches}
	if offset < len(rows) {
		rows = rows[offset:min(len(rows), offset+limit)]
	} else {
		rows = nil
	}
	out.Zooids = make([]ZooidJSON, len(rows))
	now := s.o.Now()
	for i := range rows {
		out.Zooids[i] = s.zooidJSON(&rows[i], now)
	}
	reply(w, out)
}

// ZooidDetailJSON is GET /api/v1/zooids/{name}.
type ZooidDetailJSON struct {
	ZooidJSON
	Episodes []EpisodeJSON `json:"episodes"`
	// Bars24h holds 24 hourly buckets, Bars7d 28 six-hour buckets, oldest
	// first: the fraction of each the zooid was up (null: not known).
	Bars24h []*float64 `json:"bars_24h"`
	Bars7d  []*float64 `json:"bars_7d"`
}

// EpisodeJSON is one outage.
type EpisodeJSON struct {
	IncidentID      string    `json:"incident_id"`
	Since           time.Time `json:"since"`
	Opened          time.Time `json:"opened"`
	Closed          time.Time `json:"closed,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"`
	Open            bool      `json:"open"`
}

// maxEpisodes bounds the episodes one zooid's page lists.
const maxEpisodes = 200

func (s *Server) zooid(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	name := r.PathValue("name")
	sn := s.snapshot()
	i, ok := slices.BinarySearchFunc(sn.rows, name, func(z zooidRow, n string) int { return strings.Compare(z.Name, n) })
	if !ok {
		fail(w, http.StatusNotFound, "name", fmt.Sprintf("no zooid %q", name))
		return
	}
	now := s.o.Now()
	d := ZooidDetailJSON{ZooidJSON: s.zooidJSON(&sn.rows[i], now), Episodes: []EpisodeJSON{}}
	if h := s.o.History; h != nil {
		for _, e := range h.Episodes(name) {
			if len(d.Episodes) == maxEpisodes {
				break
			}
			d.Episodes = append(d.Episodes, EpisodeJSON{IncidentID: e.IncidentID, Since: e.Since, Opened: e.Opened, Closed: e.Closed,
				DurationSeconds: e.Duration(now).Seconds(), Open: e.Open()})
		}
		d.Bars24h = bars(h.Bars(name, now, 24*time.Hour, 24))
		d.Bars7d = bars(h.Bars(name, now, 7*24*time.Hour, 28))
	}
	reply(w, d)
}

func bars(f []float64) []*float64 {
	out := make([]*float64, len(f))
	for i := range f {
		if f[i] >= 0 {
			out[i] = &f[i]
		}
	}
	return out
}

func (s *Server) forget(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.o.Zooids == nil {
		fail(w, http.StatusNotFound, "name", "the heartbeat monitor is not running")
		return
	}
	ok, err := s.o.Zooids.Forget(name)
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	if !ok {
		fail(w, http.StatusNotFound, "name", fmt.Sprintf("no zooid %q", name))
		return
	}
	if s.o.History != nil {
		if err := s.o.History.Forget(name); err != nil {
			s.o.Logger.Error("cannot drop a forgotten zooid's history", "zooid", name, "err", err)
		}
	}
	s.snapMu.Lock()
	s.snap = nil
	s.snapMu.Unlock()
	s.o.Logger.Info("zooid forgotten by an operator", "zooid", name, "by", who(r))
	reply(w, map[string]any{"forgotten": name})
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "source", "type", "duplicate", "limit")
	src := q.list("source", nil)
	typ := q.list("type", nil)
	dup := q.list("duplicate", []string{"true", "false"})
	limit := q.int("limit", 200, 1, 100000)
	if q.bad(w) {
		return
	}
	reply(w, map[string]any{"events": s.o.Feed.Events(limit, func(e *EventJSON) bool {
		return (len(src) == 0 || slices.Contains(src, e.Source)) && (len(typ) == 0 || slices.Contains(typ, e.Type)) &&
			(len(dup) == 0 || dup[0] == fmt.Sprint(e.Duplicate))
	})})
}

var outcomes = []string{messages.IntentOutcomeWritten, messages.IntentOutcomeDeduplicated, messages.IntentOutcomeFailed}

func (s *Server) intents(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "outcome", "type", "limit")
	oc := q.list("outcome", outcomes)
	typ := q.list("type", nil)
	limit := q.int("limit", 200, 1, 100000)
	if q.bad(w) {
		return
	}
	reply(w, map[string]any{"intents": s.o.Feed.Intents(limit, func(i *IntentJSON) bool {
		return (len(oc) == 0 || slices.Contains(oc, i.Outcome)) && (len(typ) == 0 || slices.Contains(typ, i.Type))
	})})
}

// PendingJSON is one file waiting in the intents directory.
type PendingJSON struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"`
	TS    time.Time `json:"ts"`
	Bytes int64     `json:"bytes"`
}

func (s *Server) pending(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "limit")
	limit := q.int("limit", 200, 1, 10000)
	if q.bad(w) {
		return
	}
	out := []PendingJSON{}
	entries, err := os.ReadDir(s.o.IntentsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fail(w, http.StatusInternalServerError, "", "intents directory: "+err.Error())
		return
	}
	total := 0
	for _, e := range entries { // sorted by name: oldest first, as the orchestrator reads them
		ts, typ, _, ok := intentfile.ParseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		total++
		if len(out) < limit {
			var size int64
			if fi, err := e.Info(); err == nil {
				size = fi.Size()
			}
			out = append(out, PendingJSON{Name: e.Name(), Type: typ, TS: ts.UTC(), Bytes: size})
		}
	}
	reply(w, map[string]any{"dir": s.o.IntentsDir, "total": total, "pending": out})
}

// maxIntentBytes bounds an intent file the API reads.
const maxIntentBytes = 1 << 20

func (s *Server) pendingOne(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	name := r.PathValue("name")
	if _, _, _, ok := intentfile.ParseName(name); !ok || strings.ContainsAny(name, "/\\") || len(name) > 255 {
		fail(w, http.StatusBadRequest, "name", fmt.Sprintf("%q is not an intent file name ({ts_ms}_{type}_{hash8}.json)", name))
		return
	}
	// OpenInRoot: nothing outside the intents directory, symlinks included.
	f, err := os.OpenInRoot(s.o.IntentsDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		fail(w, http.StatusNotFound, "name", name+" is not pending (the orchestrator took it, or it was pruned)")
		return
	}
	if err != nil {
		fail(w, http.StatusForbidden, "name", err.Error())
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		fail(w, http.StatusForbidden, "name", name+" is not a regular file")
		return
	}
	b, err := io.ReadAll(io.LimitReader(f, maxIntentBytes+1))
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	out := map[string]any{"name": name, "verified": false}
	if len(b) > maxIntentBytes {
		out["verify_error"] = "larger than 1 MiB"
		reply(w, out)
		return
	}
	if err := intentfile.Verify(b); err != nil {
		out["verify_error"] = err.Error()
	} else {
		out["verified"] = true
	}
	if json.Valid(b) {
		out["intent"] = json.RawMessage(b)
	} else {
		out["raw"] = string(b)
	}
	reply(w, out)
}

// RuleJSON is one rule in GET /api/v1/rules.
type RuleJSON struct {
	Rule
	Fired      int       `json:"fired"`
	LastFired  time.Time `json:"last_fired,omitzero"`
	LastReason string    `json:"last_reason,omitempty"`
}

func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	stats := s.o.Feed.ruleStats()
	seen := map[string]bool{}
	out := []RuleJSON{}
	if s.o.Rules != nil {
		for _, ru := range s.o.Rules.Rules() {
			st := stats[ru.Name]
			seen[ru.Name] = true
			out = append(out, RuleJSON{Rule: ru, Fired: st.Fired, LastFired: st.LastFired, LastReason: st.LastReason})
		}
	}
	for name, st := range stats {
		if !seen[name] {
			out = append(out, RuleJSON{Rule: Rule{Name: name, IntentType: st.IntentType, Priority: st.Priority},
				Fired: st.Fired, LastFired: st.LastFired, LastReason: st.LastReason})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	reply(w, map[string]any{"rules": out})
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	reply(w, map[string]any{"sources": s.sourceList()})
}

func (s *Server) sourceList() []SourceState {
	byKey := map[[2]string]*SourceState{}
	out := s.o.Feed.Sources()
	for i := range out {
		byKey[[2]string{out[i].Source, out[i].Target}] = &out[i]
	}
	if s.o.Sources != nil {
		for _, src := range s.o.Sources.Sources() {
			if st := byKey[[2]string{src.Source, src.Target}]; st != nil {
				st.Extra = src.Extra // the source's own report of its health stands
				continue
			}
			out = append(out, SourceState{Source: src.Source, Target: src.Target, Healthy: src.Healthy, Detail: src.Detail, Extra: src.Extra})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Target < out[j].Target
	})
	return out
}

// ActorJSON is one actor in GET /api/v1/tree.
type ActorJSON struct {
	Actor
	LastChange string    `json:"last_change,omitempty"`
	LastReason string    `json:"last_reason,omitempty"`
	LastAt     time.Time `json:"last_at,omitzero"`
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	stats := s.o.Feed.actorStats()
	seen := map[string]bool{}
	out := []ActorJSON{}
	if s.o.Tree != nil {
		for _, a := range s.o.Tree.Actors() {
			st := stats[a.Path]
			seen[a.Path] = true
			a.Failures, a.Restarts = max(a.Failures, st.Failures), max(a.Restarts, st.Restarts)
			out = append(out, ActorJSON{Actor: a, LastChange: st.LastChange, LastReason: st.LastReason, LastAt: st.LastAt})
		}
	}
	for p, st := range stats {
		if !seen[p] {
			out = append(out, ActorJSON{Actor: Actor{Path: p, Failures: st.Failures, Restarts: st.Restarts},
				LastChange: st.LastChange, LastReason: st.LastReason, LastAt: st.LastAt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	reply(w, map[string]any{"actors": out})
}

func (s *Server) rates(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "step")
	step := q.int("step", 10, 1, 600)
	if q.err == nil && rateWindow%step != 0 {
		q.err = &paramError{"step", fmt.Sprintf("%d does not divide 3600", step)}
	}
	if q.bad(w) {
		return
	}
	reply(w, s.o.Feed.Rates(step))
}

// SilenceJSON is one silence in the API.
type SilenceJSON struct {
	*silence.Silence
	State string    `json:"state"`
	Ends  time.Time `json:"ends"`
}

func (s *Server) silenceJSON(sl *silence.Silence, now time.Time) SilenceJSON {
	return SilenceJSON{Silence: sl, State: sl.State(now), Ends: sl.End()}
}

func (s *Server) silences(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "state")
	st := q.list("state", []string{"active", "expired"})
	if q.bad(w) {
		return
	}
	out := []SilenceJSON{}
	if s.o.Silences != nil {
		now := s.o.Now()
		for _, sl := range s.o.Silences.List() {
			if len(st) == 0 || slices.Contains(st, sl.State(now)) {
				out = append(out, s.silenceJSON(sl, now))
			}
		}
	}
	reply(w, map[string]any{"silences": out})
}

// SilenceRequest is POST /api/v1/silences: until (RFC 3339) or duration
// (Go duration or seconds), one at least of zooid, niche, pattern.
type SilenceRequest struct {
	Zooid    string    `json:"zooid"`
	Niche    string    `json:"niche"`
	Pattern  string    `json:"pattern"`
	Until    time.Time `json:"until"`
	Duration string    `json:"duration"`
	Comment  string    `json:"comment"`
}

func (s *Server) addSilence(w http.ResponseWriter, r *http.Request) {
	if s.o.Silences == nil {
		fail(w, http.StatusNotFound, "", "silences are not available (the heartbeat monitor is off)")
		return
	}
	var req SilenceRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, http.StatusRequestEntityTooLarge, "", "body larger than 64 KiB")
			return
		}
		fail(w, http.StatusBadRequest, jsonField(err), "bad JSON: "+err.Error())
		return
	}
	now := s.o.Now()
	if req.Duration != "" {
		if !req.Until.IsZero() {
			fail(w, http.StatusBadRequest, "duration", "give until or duration, not both")
			return
		}
		d, err := ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			fail(w, http.StatusBadRequest, "duration", fmt.Sprintf("%q: want a positive Go duration (2h30m) or seconds", req.Duration))
			return
		}
		req.Until = now.Add(d)
	}
	sl, err := s.o.Silences.Add(silence.Spec{Zooid: req.Zooid, Niche: req.Niche, Pattern: req.Pattern, Until: req.Until,
		Comment: req.Comment, CreatedBy: who(r)})
	var fe *silence.FieldError
	if errors.As(err, &fe) {
		fail(w, http.StatusBadRequest, fe.Field, fe.Error())
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	s.invalidate()
	s.o.Logger.Info("silence added", "silence_id", sl.ID, "zooid", sl.Zooid, "niche", sl.Niche, "pattern", sl.Pattern,
		"until", sl.Until, "comment", sl.Comment, "by", sl.CreatedBy)
	w.WriteHeader(http.StatusCreated)
	reply(w, s.silenceJSON(sl, now))
}

func (s *Server) expireSilence(w http.ResponseWriter, r *http.Request) {
	if s.o.Silences == nil {
		fail(w, http.StatusNotFound, "", "silences are not available (the heartbeat monitor is off)")
		return
	}
	id := r.PathValue("id")
	sl, err := s.o.Silences.Expire(id)
	if errors.Is(err, silence.ErrNotFound) {
		fail(w, http.StatusNotFound, "id", fmt.Sprintf("no silence %q", id))
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	s.invalidate()
	s.o.Logger.Info("silence expired", "silence_id", sl.ID, "by", who(r))
	reply(w, s.silenceJSON(sl, s.o.Now()))
}

func (s *Server) invalidate() {
	s.snapMu.Lock()
	s.snap = nil
	s.snapMu.Unlock()
}

func (s *Server) reload(w http.ResponseWriter, _ *http.Request) {
	if s.o.Reload == nil {
		fail(w, http.StatusNotImplemented, "", "reload is not available in this build")
		return
	}
	if err := s.o.Reload(); err != nil {
		fail(w, http.StatusInternalServerError, "", "reload failed: "+err.Error())
		return
	}
	reply(w, map[string]any{"status": "reloaded"})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.readiness(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) readiness() error {
	if s.o.Ready != nil {
		if err := s.o.Ready(); err != nil {
			return err
		}
	}
	if s.o.ChemBus != nil {
		if err := s.o.ChemBus(); err != nil {
			return fmt.Errorf("chembus not reachable: %w", err)
		}
	} else if s.o.ChemBusEnabled {
		reported := false
		for _, src := range s.o.Feed.Sources() {
			if src.Source != "chembus" {
				continue
			}
			reported = true
			if !src.Healthy {
				return fmt.Errorf("chembus not reachable at %s: %s", src.Target, src.Detail)
			}
		}
		if !reported {
			return errors.New("chembus not connected yet")
		}
	}
	return nil
}

// ProbeWritable creates, writes an intent's worth of bytes into, and removes
// a file in dir (creating dir if needed): /readyz's check that the intents
// directory is writable. An empty file can still be created on a full
// filesystem; a write of data cannot.
func ProbeWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".readyz-*.probe")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(probeBytes[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

var probeBytes [1024]byte

// StatusJSON is GET /api/v1/status: the daemon at a glance.
type StatusJSON struct {
	Version         string         `json:"version"`
	Started         time.Time      `json:"started"`
	UptimeSeconds   float64        `json:"uptime_seconds"`
	Ready           bool           `json:"ready"`
	NotReady        string         `json:"not_ready,omitempty"`
	Zooids          map[string]int `json:"zooids"`
	SilencesActive  int            `json:"silences_active"`
	SourcesDown     int            `json:"sources_down"`
	StreamKinds     []string       `json:"stream_kinds"`
	WritesAllowed   bool           `json:"writes_allowed"`
	WritesForbidden string         `json:"writes_forbidden,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if parseQuery(r).bad(w) {
		return
	}
	now := s.o.Now()
	st := StatusJSON{Version: s.o.Version, Started: s.o.Started, UptimeSeconds: now.Sub(s.o.Started).Seconds(),
		Zooids: s.snapshot().counts, StreamKinds: observe.KindNames()}
	if err := s.readiness(); err != nil {
		st.NotReady = err.Error()
	} else {
		st.Ready = true
	}
	if s.o.Silences != nil {
		for _, sl := range s.o.Silences.List() {
			if sl.Active(now) {
				st.SilencesActive++
			}
		}
	}
	for _, src := range s.sourceList() {
		if !src.Healthy {
			st.SourcesDown++
		}
	}
	st.WritesForbidden = s.allowWrite(r)
	st.WritesAllowed = st.WritesForbidden == ""
	reply(w, st)
}

func jsonField(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return ute.Field
	}
	if m := err.Error(); strings.HasPrefix(m, "json: unknown field ") {
		return strings.Trim(strings.TrimPrefix(m, "json: unknown field "), `"`)
	}
	return ""
}
