package archive

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// ReplayedFromKey is the key, inside data, that records where a replayed
// intent came from. It is not a top-level key: the file keeps exactly the
// eight keys of SPEC §1.1 that the Python verifier expects.
const ReplayedFromKey = "replayed_from"

// Replayed is one intent put back into the queue.
type Replayed struct {
	From    string `json:"from"`     // the archived file name
	DayFile string `json:"day_file"` // the archive day file it was read from
	File    string `json:"file"`     // the new queue file name
	Path    string `json:"path"`
	Body    []byte `json:"-"`
}

// BuildReplay encodes e as a new intent emitted at now: same intent_type,
// priority and reason; data is e's data plus replayed_from {file, sha256,
// day_file, archived_at, generated_at} (replacing an earlier replayed_from,
// so a replay of a replay names its immediate source); generated_at is now,
// or the orchestrator would move it to processed/stale at once.
func BuildReplay(e *Entry, now time.Time) (*intentfile.Encoded, error) {
	if e.Type == "" || e.Data == nil {
		return nil, fmt.Errorf("archived %s (in %s): not an intent this can replay (no intent_type or data)", e.File, e.DayFile)
	}
	from := messages.Object{
		{Key: "file", Value: e.File},
		{Key: "sha256", Value: e.SHA256},
		{Key: "day_file", Value: e.DayFile},
		{Key: "archived_at", Value: intentfile.Epoch(e.ArchivedAt)},
		{Key: "generated_at", Value: intentfile.Float(e.GeneratedAt)},
	}
	data := make(messages.Object, 0, len(e.Data)+1)
	replaced := false
	for _, kv := range e.Data {
		if kv.Key == ReplayedFromKey {
			kv.Value, replaced = from, true
		}
		data = append(data, kv)
	}
	if !replaced {
		data = append(data, messages.KV{Key: ReplayedFromKey, Value: from})
	}
	in := messages.Intent{Type: e.Type, Priority: e.Priority, Reason: e.Reason, Data: data, GeneratedAt: now}
	enc, err := intentfile.Encode(&in, now)
	if err != nil {
		return nil, fmt.Errorf("archived %s: %w", e.File, err)
	}
	return enc, nil
}

// Replay writes entries back into intentsDir as new intents (BuildReplay),
// in order, one millisecond apart so their names keep the original order;
// every file is durable (tmp, fsync, rename, directory fsync) when Replay
// returns. With dry, nothing is written.
func Replay(entries []Entry, intentsDir string, now time.Time, dry bool) ([]Replayed, error) {
	out := make([]Replayed, 0, len(entries))
	files := make([]intentfile.File, 0, len(entries))
	for i := range entries {
		enc, err := BuildReplay(&entries[i], now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			return nil, err
		}
		out = append(out, Replayed{From: entries[i].File, DayFile: entries[i].DayFile, File: enc.Name,
			Path: filepath.Join(intentsDir, enc.Name), Body: enc.Body})
		files = append(files, intentfile.File{Name: enc.Name, Body: enc.Body})
	}
	if dry || len(files) == 0 {
		return out, nil
	}
	for i, err := range intentfile.CommitBatch(intentsDir, files) {
		if err != nil {
			return out[:i], fmt.Errorf("replay %s as %s: %w", out[i].From, out[i].Path, err)
		}
	}
	return out, nil
}
