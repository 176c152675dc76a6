package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/kloros/kloros-observer/actors/intentfile"
)

// RuleState is one rule's saved windows and cooldowns, with the hash of the
// definition that made them.
type RuleState struct {
	Name  string          `json:"name"`
	Hash  string          `json:"hash"`
	State json.RawMessage `json:"state"`
}

type checkpointFile struct {
	Version int         `json:"version"`
	SavedAt time.Time   `json:"saved_at"`
	Rules   []RuleState `json:"rules"`
}

// CheckpointName is the checkpoint's file name under <state-dir>/rules/.
const CheckpointName = "state.json"

// WriteCheckpoint writes states to path atomically: a temporary file in the
// same directory, fsync, rename over path, fsync of the directory. A crash
// leaves the old checkpoint or the new one, never a torn one. The
// supervision layer calls it debounced and at shutdown with what Collect
// returns.
func WriteCheckpoint(path string, states []RuleState, now time.Time) error {
	sort.Slice(states, func(i, j int) bool { return states[i].Name < states[j].Name })
	b, err := json.MarshalIndent(checkpointFile{Version: 1, SavedAt: now.UTC(), Rules: states}, "", " ")
	if err != nil {
		return fmt.Errorf("rules: checkpoint: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rules: checkpoint: %w", err)
	}
	// The daemon's one write protocol: tmp, fsync, rename, directory fsync.
	if err := intentfile.CommitBatch(dir, []intentfile.File{{Name: filepath.Base(path), Body: append(b, '\n')}})[0]; err != nil {
		return fmt.Errorf("rules: checkpoint: %w", err)
	}
	return nil
}

// ReadCheckpoint reads a checkpoint (none: an empty map and no error).
func ReadCheckpoint(path string) (map[string]RuleState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]RuleState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rules: checkpoint: %w", err)
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("rules: checkpoint %s: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("rules: checkpoint %s: version %d, want 1", path, f.Version)
	}
	out := make(map[string]RuleState, len(f.Rules))
	for _, r := range f.Rules {
		out[r.Name] = r
	}
	return out, nil
}

// Applicable keeps the saved states whose rule is in set with the same
// hash. Each one dropped (a changed or removed rule) is logged.
func Applicable(saved map[string]RuleState, set *Set, log *slog.Logger) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	names := make([]string, 0, len(saved))
	for n := range saved {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st := saved[n]
		c := set.Rule(n)
		switch {
		case c == nil:
			log.Info("rule state not restored", "rule", n, "why", "rule no longer exists")
		case c.Hash() != st.Hash:
			log.Info("rule state not restored", "rule", n, "why", "rule definition changed", "saved_hash", st.Hash, "hash", c.Hash())
		default:
			out[n] = st.State
		}
	}
	return out
}

// Factory returns a rule actor's factory for c: the first instance gets
// state (nil: none); later ones — after a restart, whose cause makes the
// state suspect — start empty.
func Factory(c *Compiled, state json.RawMessage, log *slog.Logger) func() (Rule, error) {
	var once sync.Once
	return func() (Rule, error) {
		in := c.New()
		in.SetLogger(log)
		var err error
		once.Do(func() {
			if state != nil {
				if err = in.Restore(state); err != nil {
					log.Warn("rule state not restored", "rule", c.Name(), "err", err)
					in = c.New()
					in.SetLogger(log)
					err = nil
				}
			}
		})
		return in, err
	}
}

// SnapshotRequest asks a rule actor for its state; it answers
// *SnapshotResponse (ctx.Respond). Sent by: Collect (the supervision
// layer's checkpointing).
type SnapshotRequest struct{}

// SnapshotResponse carries one rule's state (State nil: nothing to save).
type SnapshotResponse struct {
	State *RuleState
	Err   error
}

// Collect asks every rule actor for its state, each within timeout. Rules
// that do not answer are left out and named in the error.
func Collect(root *actor.RootContext, pids []*actor.PID, timeout time.Duration) ([]RuleState, error) {
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = root.RequestFuture(pid, &SnapshotRequest{}, timeout)
	}
	var out []RuleState
	var errs []error
	for i, f := range futures {
		res, err := f.Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pids[i].Id, err))
			continue
		}
		r, ok := res.(*SnapshotResponse)
		if !ok {
			continue
		}
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		if r.State != nil {
			out = append(out, *r.State)
		}
	}
	return out, errors.Join(errs...)
}
