package archive

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/intentfile"
)

// Defaults of Config.
const (
	DefaultRetention = 90 * 24 * time.Hour
	DefaultMaxBytes  = int64(1 << 30)
)

// Config says where the archive and the quarantine are and how long the
// archive keeps what it holds. YAML: emitter.archive.
type Config struct {
	// Dir holds the day files. Default <state_dir>/archive.
	Dir string `yaml:"dir"`
	// QuarantineDir receives queue files that fail verification, each with
	// a .reason sidecar. Default <state_dir>/quarantine.
	QuarantineDir string `yaml:"quarantine_dir"`
	// Retention: day files older than this are removed. Default 90 days.
	Retention time.Duration `yaml:"retention"`
	// MaxBytes bounds the archive's total size; the oldest day files go
	// first (today's never). Default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// DefaultConfig returns the defaults for a state directory.
func DefaultConfig(stateDir string) Config {
	return Config{
		Dir:           filepath.Join(stateDir, "archive"),
		QuarantineDir: filepath.Join(stateDir, "quarantine"),
		Retention:     DefaultRetention,
		MaxBytes:      DefaultMaxBytes,
	}
}

// Resolve fills empty paths from stateDir.
func (c *Config) Resolve(stateDir string) {
	d := DefaultConfig(stateDir)
	if c.Dir == "" {
		c.Dir = d.Dir
	}
	if c.QuarantineDir == "" {
		c.QuarantineDir = d.QuarantineDir
	}
}

// Validate checks the section (emitter.archive): retention and size.
func (c *Config) Validate(v *config.Checker) {
	v.Positive("retention", c.Retention)
	if c.MaxBytes <= 0 {
		v.Bad("max_bytes", c.MaxBytes, "must be > 0")
	}
}

// ValidateLocation checks that neither directory is inside intentsDir (the
// queue; its processed/ subtree is the orchestrator's). Empty paths are
// derived from the state dir by Resolve and not checked.
func (c *Config) ValidateLocation(v *config.Checker, intentsDir string) {
	for _, f := range []struct{ name, dir string }{{"dir", c.Dir}, {"quarantine_dir", c.QuarantineDir}} {
		if f.dir != "" && intentsDir != "" && Within(f.dir, intentsDir) {
			v.Bad(f.name, f.dir, "must not be inside the intents directory "+intentsDir+" (the queue, and the orchestrator's processed/)")
		}
	}
}

// Within reports whether path is dir or below it.
func Within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Archive is the intent archive. Its methods may be called from one
// goroutine at a time; separate processes may share the directory (appends
// take an exclusive flock).
type Archive struct {
	cfg Config
	// repaired: day files whose tail this Archive has checked (a torn
	// member from a crash is truncated before the first append).
	repaired map[string]bool
}

// New returns an archive with cfg; zero Retention and MaxBytes get their
// defaults.
func New(cfg Config) *Archive {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	return &Archive{cfg: cfg, repaired: map[string]bool{}}
}

// Config returns the archive's settings.
func (a *Archive) Config() Config { return a.cfg }

// Record is one archived intent file, as stored (one JSON line).
type Record struct {
	ArchivedAt time.Time `json:"archived_at"`
	File       string    `json:"file"`   // the queue file's name
	SHA256     string    `json:"sha256"` // the intent's own sha256 field
	Body       string    `json:"body"`   // the file's exact bytes
}

// Quarantined is a queue file moved to the quarantine.
type Quarantined struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
	Path   string `json:"path"` // where it is now
}

// Result says what a Sweep did (or, dry, would do).
type Result struct {
	Archived    []string      `json:"archived"`     // queue files now in the archive (and removed)
	ArchiveFile string        `json:"archive_file"` // the day file appended to
	Quarantined []Quarantined `json:"quarantined"`
	Unparsable  []string      `json:"unparsable"` // *.json names that do not parse: left alone
}

// DayFile is the name of the day file for t (UTC).
func DayFile(t time.Time) string { return "intents-" + t.UTC().Format(time.DateOnly) + ".jsonl.gz" }

// dayOf parses a day file name.
func dayOf(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, "intents-")
	if !ok {
		return time.Time{}, false
	}
	s, ok = strings.CutSuffix(s, ".jsonl.gz")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// ErrQueue marks a Sweep error reading the intents directory itself (not
// the archive or the quarantine): the emitter's writes see and count that
// condition on their own.
var ErrQueue = errors.New("intents directory")

// Sweep moves every intent in the top level of intentsDir whose name's time
// is before `before` into the archive (or, if it fails verification, into
// the quarantine). now dates the archive records and the day file. With dry,
// nothing is written or removed and the Result says what would be. Sweep
// does not apply the archive's retention: Expire does (the daemon calls
// both; intentctl prune only Sweep, as it may not know the daemon's
// retention).
func (a *Archive) Sweep(intentsDir string, before, now time.Time, dry bool) (Result, error) {
	var res Result
	entries, err := os.ReadDir(intentsDir)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	var recs []Record
	for _, e := range entries {
		// Only regular files at the top level: processed/ (the
		// orchestrator's) and any other directory are never entered.
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		ts, _, _, ok := intentfile.ParseName(e.Name())
		if !ok {
			res.Unparsable = append(res.Unparsable, e.Name())
			continue
		}
		if !ts.Before(before) {
			continue
		}
		path := filepath.Join(intentsDir, e.Name())
		body, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the orchestrator took it meanwhile
		}
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrQueue, err)
		}
		if verr := intentfile.Verify(body); verr != nil {
			q := Quarantined{File: e.Name(), Reason: verr.Error(), Path: filepath.Join(a.cfg.QuarantineDir, e.Name())}
			if !dry {
				p, err := a.quarantine(intentsDir, e.Name(), body, verr.Error(), now)
				if errors.Is(err, errGone) {
					continue
				}
				if err != nil {
					return res, err
				}
				q.Path = p
			}
			res.Quarantined = append(res.Quarantined, q)
			continue
		}
		recs = append(recs, Record{ArchivedAt: now.UTC(), File: e.Name(), SHA256: shaField(body), Body: string(body)})
	}
	if len(recs) > 0 {
		res.ArchiveFile = filepath.Join(a.cfg.Dir, DayFile(now))
		if !dry {
			if err := a.appendMember(res.ArchiveFile, recs); err != nil {
				return res, fmt.Errorf("archive %d intent(s) into %s: %w", len(recs), res.ArchiveFile, err)
			}
			// Durable in the archive: now the queue files may go.
			for _, r := range recs {
				if err := os.Remove(filepath.Join(intentsDir, r.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return res, err
				}
			}
			if err := intentfile.SyncDir(intentsDir); err != nil {
				return res, err
			}
		}
		for _, r := range recs {
			res.Archived = append(res.Archived, r.File)
		}
	}
	return res, nil
}

// shaField returns the sha256 field of a verified intent's bytes.
func shaField(body []byte) string {
	const key = `"sha256": "`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 || len(body) < i+len(key)+64 {
		return ""
	}
	return string(body[i+len(key) : i+len(key)+64])
}

// encodeMember compresses records as one gzip member of JSON lines.
func encodeMember(recs []Record) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// appendMember appends recs as one gzip member to path and fsyncs it.
func (a *Archive) appendMember(path string, recs []Record) error {
	member, err := encodeMember(recs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.cfg.Dir, 0o700); err != nil {
		return err
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if !a.repaired[path] {
		if err := repairTail(f); err != nil {
			return err
		}
		a.repaired[path] = true
	}
	if _, err := f.Write(member); err != nil {
		// Leave no torn member behind us if we can help it.
		a.repaired[path] = false
		return err
	}
	if err := f.Sync(); err != nil {
		a.repaired[path] = false
		return err
	}
	if created {
		return intentfile.SyncDir(a.cfg.Dir)
	}
	return nil
}

// repairTail truncates a torn last member (a crash mid-append: never
// acknowledged, its intents still in the queue). Complete members, and
// damaged ones followed by complete ones, are kept as they are.
func repairTail(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, end, err := scanMembers(f, fi.Size(), func(member) {})
	if err != nil {
		return err
	}
	if end == fi.Size() {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("truncate torn tail at %d: %w", end, err)
	}
	return f.Sync()
}

// errGone: the queue file went away before it could be quarantined.
var errGone = errors.New("gone from the queue")

// quarantine moves intentsDir/name into the quarantine with a .reason
// sidecar, both durable before the queue entry goes. It returns the new path.
func (a *Archive) quarantine(intentsDir, name string, body []byte, reason string, now time.Time) (string, error) {
	if err := os.MkdirAll(a.cfg.QuarantineDir, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(a.cfg.QuarantineDir, name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = filepath.Join(a.cfg.QuarantineDir, fmt.Sprintf("%s.%d", name, i))
	}
	note := fmt.Sprintf("file: %s\nfrom: %s\nquarantined_at: %s\nreason: %s\n",
		name, filepath.Join(intentsDir, name), now.UTC().Format(time.RFC3339Nano), reason)
	base := filepath.Base(dst)
	if errs := intentfile.CommitBatch(a.cfg.QuarantineDir, []intentfile.File{
		{Name: base + ".reason", Body: []byte(note)},
	}); errs[0] != nil {
		return "", errs[0]
	}
	src := filepath.Join(intentsDir, name)
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Taken meanwhile (the orchestrator, or another sweep): nothing
			// to quarantine, and no reason without its file.
			os.Remove(filepath.Join(a.cfg.QuarantineDir, base+".reason"))
			return "", errGone
		}
		var le *os.LinkError
		if !errors.As(err, &le) || !errors.Is(le.Err, syscall.EXDEV) {
			return "", err
		}
		// Another filesystem: copy durably, then remove.
		if errs := intentfile.CommitBatch(a.cfg.QuarantineDir, []intentfile.File{{Name: base, Body: body}}); errs[0] != nil {
			return "", errs[0]
		}
		if err := os.Remove(src); err != nil {
			return "", err
		}
	}
	if err := intentfile.SyncDir(a.cfg.QuarantineDir); err != nil {
		return "", err
	}
	return dst, intentfile.SyncDir(intentsDir)
}

// DayFiles lists the archive's day files, oldest first.
func (a *Archive) DayFiles() ([]string, error) {
	entries, err := os.ReadDir(a.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, ok := dayOf(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Expire removes day files past the retention, then the oldest while the
// archive is over MaxBytes, and returns their names. Today's file is never
// removed. With dry, nothing is removed.
func (a *Archive) Expire(now time.Time, dry bool) ([]string, error) {
	names, err := a.DayFiles()
	if err != nil {
		return nil, err
	}
	today := DayFile(now)
	type df struct {
		name string
		size int64
	}
	var files []df
	var total int64
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(a.cfg.Dir, n))
		if err != nil {
			continue
		}
		files = append(files, df{n, fi.Size()})
		total += fi.Size()
	}
	cutoff := now.Add(-a.cfg.Retention)
	var removed []string
	for _, f := range files {
		day, _ := dayOf(f.name)
		tooOld := day.Add(24 * time.Hour).Before(cutoff)
		if f.name == today || (!tooOld && total <= a.cfg.MaxBytes) {
			continue
		}
		if !dry {
			if err := os.Remove(filepath.Join(a.cfg.Dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, err
			}
		}
		total -= f.size
		removed = append(removed, f.name)
	}
	if len(removed) > 0 && !dry {
		return removed, intentfile.SyncDir(a.cfg.Dir)
	}
	return removed, nil
}

// bodySHA is the hex SHA-256 of b (used to tell repeats apart when the
// intent's own sha256 field is missing).
func bodySHA(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}
