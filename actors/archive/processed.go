package archive

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// ProcessedDir is the orchestrator's subtree of the intents directory (SPEC
// §1.4): read here, never written, moved or removed.
const ProcessedDir = "processed"

// Processed is an intent the orchestrator moved to
// processed/<bucket>/<YYYYmmdd_HHMMSS>_<why>_<original name>.
type Processed struct {
	Bucket   string    `json:"bucket"` // deduplicated, queue_overflow, stale (or another it adds)
	Why      string    `json:"why"`
	MovedAt  time.Time `json:"moved_at"` // the name's stamp, in local time as the orchestrator writes it
	Original string    `json:"original"` // the queue file name it had
	// EmittedAt and Type come from Original when it is one of ours.
	EmittedAt time.Time `json:"emitted_at"`
	Type      string    `json:"intent_type"`
	Path      string    `json:"path"`
}

// ListProcessed lists intentsDir/processed/*/*, read-only, oldest emitted
// first. A missing subtree is no error.
func ListProcessed(intentsDir string) ([]Processed, error) {
	root := filepath.Join(intentsDir, ProcessedDir)
	buckets, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Processed
	for _, b := range buckets {
		if !b.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, b.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !f.Type().IsRegular() || !strings.HasSuffix(f.Name(), ".json") {
				continue
			}
			p := ParseProcessedName(f.Name())
			p.Bucket = b.Name()
			if p.Why == "" {
				p.Why = b.Name()
			}
			p.Path = filepath.Join(root, b.Name(), f.Name())
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].EmittedAt.Equal(out[j].EmittedAt) {
			return out[i].EmittedAt.Before(out[j].EmittedAt)
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// ParseProcessedName splits <YYYYmmdd_HHMMSS>_<why>_<original name>. why may
// itself hold underscores (queue_overflow); the original is the first
// suffix that parses as an intent name. A name that does not fit is kept
// whole as Original.
func ParseProcessedName(name string) Processed {
	p := Processed{Original: name}
	if len(name) < 16 || name[15] != '_' {
		return p
	}
	t, err := time.ParseInLocation("20060102_150405", name[:15], time.Local)
	if err != nil {
		return p
	}
	p.MovedAt = t
	rest := name[16:]
	for i := 0; i < len(rest); i++ {
		if rest[i] != '_' {
			continue
		}
		if ts, typ, _, ok := intentfile.ParseName(rest[i+1:]); ok {
			p.Why, p.Original, p.EmittedAt, p.Type = rest[:i], rest[i+1:], ts, typ
			return p
		}
	}
	if i := strings.IndexByte(rest, '_'); i > 0 {
		p.Why, p.Original = rest[:i], rest[i+1:]
	} else {
		p.Original = rest
	}
	return p
}
