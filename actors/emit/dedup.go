package emit

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
)

// The emitter's 1 h dedup survives restarts, kill -9 included (issue 15 #2:
// a journal entry read again after a crash wrote a second intent):
//
//   - the map of dedup hash → when written is checkpointed atomically to
//     EmitterConfig.DedupFile (<state-dir>/emitter/dedup.json), at most
//     every DedupSaveEvery and at stop. The checkpoint is written by the
//     writer goroutine as a chore queued behind the intents offered before
//     it, so it never names an intent that is not yet durable (a crash could
//     otherwise lose that intent for good);
//   - at start, the intents already in the queue directory, and in the
//     orchestrator's processed/ archive, count as seen by their name's
//     hash8 and time: they cover what was written after the last checkpoint.

// dedupFile is the checkpoint's content.
type dedupFile struct {
	Version int              `json:"version"`
	Seen    map[string]int64 `json:"seen"` // dedup hash → unix ms when written
}

// loadDedup reads the checkpoint (entries within window of now).
func loadDedup(path string, window time.Duration, now time.Time) (map[string]time.Time, error) {
	seen := map[string]time.Time{}
	if path == "" {
		return seen, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return seen, nil
	}
	if err != nil {
		return seen, err
	}
	var f dedupFile
	if err := json.Unmarshal(b, &f); err != nil {
		return seen, err
	}
	for h, ms := range f.Seen {
		if at := time.UnixMilli(ms); now.Sub(at) < window {
			seen[h] = at
		}
	}
	return seen, nil
}

// queuedHashes returns the hash8 of every intent in dir and in dir's
// processed/*/ archive (named <YYYYmmdd_HHMMSS>_<why>_<original name>) whose
// name's time is within window of now.
func queuedHashes(dir string, window time.Duration, now time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	add := func(d string, archived bool) {
		entries, err := os.ReadDir(d)
		if err != nil {
			return
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".json") {
				continue
			}
			if archived { // the original name is a tail whose time is recent
				for i := 0; i < len(name); i++ {
					if name[i] != '_' {
						continue
					}
					if ts, _, _, ok := intentfile.ParseName(name[i+1:]); ok && now.Sub(ts) < window && ts.Year() > 2000 {
						name = name[i+1:]
						break
					}
				}
			}
			ts, _, h8, ok := intentfile.ParseName(name)
			if ok && now.Sub(ts) < window && ts.Year() > 2000 && ts.After(out[h8]) {
				out[h8] = ts
			}
		}
	}
	add(dir, false)
	subs, _ := os.ReadDir(filepath.Join(dir, "processed"))
	for _, s := range subs {
		if s.IsDir() {
			add(filepath.Join(dir, "processed", s.Name()), true)
		}
	}
	return out
}

// encodeDedup serializes a snapshot of the seen map.
func encodeDedup(seen map[string]time.Time) []byte {
	f := dedupFile{Version: 1, Seen: make(map[string]int64, len(seen))}
	for h, at := range seen {
		f.Seen[h] = at.UnixMilli()
	}
	b, _ := json.Marshal(f)
	return b
}

// saveDedup writes the checkpoint atomically (tmp, fsync, rename, fsync dir).
func saveDedup(path string, body []byte) error {
	errs := intentfile.CommitBatch(filepath.Dir(path), []intentfile.File{{Name: filepath.Base(path), Body: body}})
	return errs[0]
}
