package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// member is one complete gzip member of a day file: [start, end) and its
// records.
type member struct {
	start, end int64
	recs       []Record
}

// Damage is a part of a day file that could not be read (a torn or corrupt
// member); reading went on at the next gzip header.
type Damage struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Err    string `json:"err"`
}

var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// scanMembers reads the day file r (size bytes) member by member, streaming
// (memory: one member), and calls fn for each complete one. A member that
// fails is reported and skipped: reading resumes at the next gzip header
// after its start, so one bad member never hides the ones after it. end is
// where the last complete member ends.
func scanMembers(r io.ReaderAt, size int64, fn func(member)) (dmg []Damage, end int64, err error) {
	off := int64(0)
	for off < size {
		cr := &countingReader{r: bufio.NewReader(io.NewSectionReader(r, off, size-off))}
		recs, merr := readMember(cr)
		if merr == nil {
			fn(member{start: off, end: off + cr.n, recs: recs})
			off += cr.n
			end = off
			continue
		}
		dmg = append(dmg, Damage{Offset: off, Err: merr.Error()})
		next, ferr := findMagic(r, off+1, size)
		if ferr != nil {
			return dmg, end, ferr
		}
		if next < 0 {
			break
		}
		off = next
	}
	return dmg, end, nil
}

// countingReader counts the bytes gzip consumes. It is an io.ByteReader, so
// gzip reads through it without a read-ahead buffer of its own: after a
// member, n is exactly the member's length.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// findMagic returns the offset of the next gzip header at or after off, or -1.
func findMagic(r io.ReaderAt, off, size int64) (int64, error) {
	buf := make([]byte, 64*1024)
	for off < size {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n == 0 && err != nil {
			return -1, err
		}
		if i := bytes.Index(buf[:n], gzipMagic); i >= 0 {
			return off + int64(i), nil
		}
		if int64(n) < size-off {
			off += int64(n) - int64(len(gzipMagic)-1) // a header may straddle the chunks
		} else {
			break
		}
	}
	return -1, nil
}

// readMember decodes one gzip member of JSON-lines records from r.
func readMember(r *countingReader) ([]Record, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	var recs []Record
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

// Entry is an archived intent, read back: the record and what it says.
type Entry struct {
	Record
	DayFile     string          `json:"day_file"`
	EmittedAt   time.Time       `json:"emitted_at"` // from the file name
	Type        string          `json:"intent_type"`
	Priority    int             `json:"priority"`
	Reason      string          `json:"reason"`
	Data        messages.Object `json:"-"`
	GeneratedAt float64         `json:"generated_at"`
	// VerifyErr is non-empty if the stored bytes no longer verify.
	VerifyErr string `json:"verify_error,omitempty"`
}

// Filter selects entries; zero fields select everything.
type Filter struct {
	Since, Until time.Time // by emit time (the name's ts_ms); Until exclusive
	Types        []string  // exact intent_type, any of
	// ByPriority selects MinPriority..MaxPriority (inclusive) only.
	ByPriority               bool
	MinPriority, MaxPriority int
	Pattern                  *regexp.Regexp
	File                     string // exact original file name
}

// Match reports whether e passes f.
func (f *Filter) Match(e *Entry) bool {
	if !f.Since.IsZero() && e.EmittedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.EmittedAt.Before(f.Until) {
		return false
	}
	if f.File != "" && e.File != f.File {
		return false
	}
	if !f.MatchType(e.Type) {
		return false
	}
	if f.ByPriority && (e.Priority < f.MinPriority || e.Priority > f.MaxPriority) {
		return false
	}
	if f.Pattern != nil && !f.Pattern.MatchString(e.Body) && !f.Pattern.MatchString(e.File) {
		return false
	}
	return true
}

// MatchType reports whether typ is one of f.Types (or f.Types is empty).
func (f *Filter) MatchType(typ string) bool {
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// Read returns the archived entries f selects, oldest emitted first, each
// once (a repeat from a crash between archiving and removal is dropped),
// and the damage met on the way.
func (a *Archive) Read(f Filter) ([]Entry, []Damage, error) {
	names, err := a.DayFiles()
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var out []Entry
	var damage []Damage
	for _, n := range names {
		dmg, err := a.readDay(n, func(m member) {
			for _, r := range m.recs {
				key := r.File + "\x00" + bodySHA(r.Body)
				if seen[key] {
					continue
				}
				seen[key] = true
				e := decode(r, n)
				if f.Match(&e) {
					out = append(out, e)
				}
			}
		})
		if err != nil {
			return nil, nil, err
		}
		damage = append(damage, dmg...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].EmittedAt.Equal(out[j].EmittedAt) {
			return out[i].EmittedAt.Before(out[j].EmittedAt)
		}
		return out[i].File < out[j].File
	})
	return out, damage, nil
}

// readDay streams one day file's members to fn.
func (a *Archive) readDay(name string, fn func(member)) ([]Damage, error) {
	f, err := os.Open(filepath.Join(a.cfg.Dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dmg, _, err := scanMembers(f, fi.Size(), fn)
	for i := range dmg {
		dmg[i].File = name
	}
	return dmg, err
}

// decode fills an Entry from its record's bytes.
func decode(r Record, day string) Entry {
	e := Entry{Record: r, DayFile: day}
	if ts, typ, _, ok := intentfile.ParseName(r.File); ok {
		e.EmittedAt, e.Type = ts, typ
	}
	if err := intentfile.Verify([]byte(r.Body)); err != nil {
		e.VerifyErr = err.Error()
	}
	v, err := intentfile.Parse([]byte(r.Body))
	if err != nil {
		return e
	}
	obj, ok := v.(messages.Object)
	if !ok {
		return e
	}
	if s, ok := get[string](obj, "intent_type"); ok {
		e.Type = s
	}
	if p, ok := get[intentfile.Int](obj, "priority"); ok {
		e.Priority, _ = strconv.Atoi(string(p))
	}
	e.Reason, _ = get[string](obj, "reason")
	e.Data, _ = get[messages.Object](obj, "data")
	if g, ok := get[intentfile.Float](obj, "generated_at"); ok {
		e.GeneratedAt = float64(g)
	}
	return e
}

func get[T any](o messages.Object, key string) (T, bool) {
	v, _ := o.Get(key)
	t, ok := v.(T)
	return t, ok
}

// ParseTypes splits a comma-separated --type value.
func ParseTypes(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
