package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

const (
	python   = "/usr/bin/python3"
	verifier = "../../actors/archive/testdata/verify_intents.py" // the orchestrator's check
	fixtures = "../../actors/archive/testdata/python-intents"    // written by the colony's Python emitter
)

func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

type state struct {
	dir, intents string
	processed    map[string][]byte
	fixtures     []string
}

// newState makes a state dir whose queue holds the colony's five
// Python-written intents (a week old), with an orchestrator processed/
// subtree beside them.
func newState(t *testing.T) *state {
	t.Helper()
	s := &state{dir: t.TempDir(), processed: map[string][]byte{}}
	s.intents = filepath.Join(s.dir, "intents")
	require.NoError(t, os.MkdirAll(s.intents, 0o700))
	src, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	require.Len(t, src, 5)
	for _, p := range src {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(s.intents, filepath.Base(p)), b, 0o600))
		s.fixtures = append(s.fixtures, filepath.Base(p))
	}
	gpu := "1795352857554_alert_gpu_oom_2a464a31.json"
	body, err := os.ReadFile(filepath.Join(fixtures, gpu))
	require.NoError(t, err)
	for rel, b := range map[string][]byte{
		"processed/stale/20261124_080000_stale_" + gpu:                                               body,
		"processed/deduplicated/20261124_080001_duplicate_1795352857000_alert_gpu_oom_00000000.json": []byte("{}"),
	} {
		p := filepath.Join(s.intents, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, b, 0o600))
		s.processed[p] = b
	}
	return s
}

func (s *state) intact(t *testing.T) {
	t.Helper()
	for p, b := range s.processed {
		got, err := os.ReadFile(p)
		require.NoError(t, err, "the orchestrator's %s must survive", p)
		require.Equal(t, b, got)
	}
}

// tampered writes an intent of ours, then changes its priority.
func (s *state) tampered(t *testing.T, at time.Time) string {
	t.Helper()
	in := messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "tampered", Data: messages.Object{}}
	enc, err := intentfile.Encode(&in, at)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(s.intents, enc.Name),
		bytes.Replace(enc.Body, []byte(`"priority": 9`), []byte(`"priority": 10`), 1), 0o600))
	return enc.Name
}

func pythonVerify(t *testing.T, files ...string) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is needed: apt-get install python3", python)
	}
	require.NotEmpty(t, files)
	out, err := exec.Command(python, append([]string{verifier}, files...)...).CombinedOutput()
	require.NoError(t, err, "python verifier:\n%s", out)
	require.Equal(t, len(files), strings.Count(string(out), "ok "), "%s", out)
}

func TestListMarksBadFilesExits1AndShowsTheOrchestratorsProcessed(t *testing.T) {
	s := newState(t)
	code, out, stderr := ctl(t, "--state-dir", s.dir, "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "5 intent(s) in "+s.intents+", 0 fail verification")
	require.Contains(t, out, "processed by the orchestrator")
	require.Contains(t, out, "stale")
	require.Contains(t, out, "1795352857554_alert_gpu_oom_2a464a31.json")

	bad := s.tampered(t, time.Now())
	code, out, stderr = ctl(t, "--state-dir", s.dir, "list")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "1 bad intent file(s)")
	line := lineWith(out, bad)
	require.Contains(t, line, "BAD: sha256 mismatch")

	code, out, _ = ctl(t, "--state-dir", s.dir, "list", "--output", "json")
	require.Equal(t, 1, code)
	var got struct {
		Dir     string `json:"dir"`
		Bad     int    `json:"bad"`
		Pending []struct {
			File  string `json:"file"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"pending"`
		Processed []struct {
			Bucket, Why, Original string
		} `json:"processed"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Equal(t, 1, got.Bad)
	require.Len(t, got.Pending, 6)
	require.Len(t, got.Processed, 2)
	for _, p := range got.Pending {
		require.Equal(t, p.File != bad, p.OK, p.File)
	}
	s.intact(t)
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestVerifyWithNoArgumentChecksTheIntentsDir(t *testing.T) {
	s := newState(t)
	code, out, _ := ctl(t, "--state-dir", s.dir, "verify")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "5 file(s), 0 bad")
	bad := s.tampered(t, time.Now())
	code, out, _ = ctl(t, "--state-dir", s.dir, "verify", "-o", "json")
	require.Equal(t, 1, code)
	var got struct {
		Files []struct {
			File  string
			OK    bool
			Error string
		}
		Bad int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Equal(t, 1, got.Bad)
	require.Len(t, got.Files, 6)
	for _, f := range got.Files {
		if filepath.Base(f.File) == bad {
			require.False(t, f.OK)
			require.Contains(t, f.Error, "sha256 mismatch")
		}
	}
	code, _, stderr := ctl(t, "--state-dir", filepath.Join(s.dir, "absent"), "verify")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "no such file")
}

func TestShowJSON(t *testing.T) {
	s := newState(t)
	p := filepath.Join(s.intents, s.fixtures[0])
	code, out, _ := ctl(t, "show", p, "--output", "json")
	require.Equal(t, 0, code)
	var got struct {
		File   string
		OK     bool
		Intent map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.True(t, got.OK)
	require.Equal(t, "trigger_phase_promotion_cluster", got.Intent["intent_type"])
	bad := s.tampered(t, time.Now())
	code, out, _ = ctl(t, "show", filepath.Join(s.intents, bad), "-o", "json")
	require.Equal(t, 1, code)
	require.Contains(t, out, `"ok": false`)
	require.Contains(t, out, "sha256 mismatch")
	code, _, stderr := ctl(t, "show", p, "-o", "yaml")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--output "yaml": must be text or json`)
}

// The whole life: prune archives (and quarantines), the archive views show
// archived and processed side by side, replay writes verifiable intents —
// and the orchestrator's processed/ survives every step.
func TestPruneArchiveAndReplay(t *testing.T) {
	s := newState(t)
	old := s.tampered(t, time.Now().Add(-48*time.Hour))
	fresh := s.tampered(t, time.Now())

	code, _, stderr := ctl(t, "--state-dir", s.dir, "--quarantine-dir", filepath.Join(s.intents, "processed", "q"), "prune")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--quarantine-dir "+filepath.Join(s.intents, "processed", "q")+": must not be inside the intents directory")
	s.intact(t)

	code, out, stderr := ctl(t, "--state-dir", s.dir, "prune", "--dry-run")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "would archive 5 and quarantine 1 intent(s)")
	require.NoDirExists(t, filepath.Join(s.dir, "archive"))

	code, out, stderr = ctl(t, "--state-dir", s.dir, "prune", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var pr struct {
		Archived    []string
		Quarantined []struct{ File, Reason, Path string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &pr), out)
	require.ElementsMatch(t, s.fixtures, pr.Archived)
	require.Len(t, pr.Quarantined, 1)
	require.Equal(t, old, pr.Quarantined[0].File)
	require.FileExists(t, filepath.Join(s.dir, "quarantine", old))
	require.FileExists(t, filepath.Join(s.dir, "quarantine", old+".reason"))
	require.FileExists(t, filepath.Join(s.intents, fresh), "young: not the prune's business")
	s.intact(t)

	// archive list: ours archived, the orchestrator's processed, together.
	code, out, stderr = ctl(t, "--state-dir", s.dir, "archive", "list")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "7 intent(s)")
	require.Contains(t, lineWith(out, "processed (stale)"), "1795352857554_alert_gpu_oom_2a464a31.json")
	code, out, _ = ctl(t, "--state-dir", s.dir, "archive", "list", "--no-processed", "--type", "alert_gpu_oom,curiosity_investigate", "-o", "json")
	require.Equal(t, 0, code)
	var al struct {
		Intents []struct {
			State, File string
			Type        string `json:"intent_type"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &al), out)
	require.Len(t, al.Intents, 2)
	code, out, _ = ctl(t, "--state-dir", s.dir, "archive", "list", "--priority", "9-10")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "trigger_phase_promotion_cluster")
	require.Contains(t, out, "alert_gpu_oom")
	code, out, _ = ctl(t, "--state-dir", s.dir, "archive", "grep", "(?i)gpu out of memory|oom")
	require.Equal(t, 0, code)
	require.Contains(t, out, "alert_gpu_oom")
	require.NotContains(t, out, "suggest_lock_optimization")

	// archive show: the same intent archived and moved by the orchestrator.
	code, out, _ = ctl(t, "--state-dir", s.dir, "archive", "show", "1795352857554_alert_gpu_oom_2a464a31.json")
	require.Equal(t, 0, code)
	require.Contains(t, out, "== archived in intents-")
	require.Contains(t, out, "== processed (stale) in processed/stale")
	code, out, _ = ctl(t, "--state-dir", s.dir, "archive", "show", old)
	require.Equal(t, 0, code)
	require.Contains(t, out, "== quarantined (sha256 mismatch")
	code, _, stderr = ctl(t, "--state-dir", s.dir, "archive", "show", "1_nothing_00000000.json")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "not in the queue")

	// replay
	code, _, stderr = ctl(t, "--state-dir", s.dir, "replay")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "at least one of --type, --since")
	code, _, stderr = ctl(t, "--state-dir", s.dir, "replay", "--since", "last tuesday")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--since "last tuesday": want RFC 3339`)
	before := queue(t, s.intents)
	code, out, _ = ctl(t, "--state-dir", s.dir, "replay", "--type", "alert_gpu_oom", "--since", "2026-11-01", "--dry-run")
	require.Equal(t, 0, code)
	require.Contains(t, out, "would replay 1 intent(s)")
	require.Equal(t, before, queue(t, s.intents))
	code, out, stderr = ctl(t, "--state-dir", s.dir, "replay", "--type", "alert_gpu_oom,curiosity_investigate", "--since", "2026-11-01", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var rp struct {
		Replayed []struct{ From, File, Path string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rp), out)
	require.Len(t, rp.Replayed, 2)
	var paths []string
	for _, r := range rp.Replayed {
		paths = append(paths, r.Path)
		b, err := os.ReadFile(r.Path)
		require.NoError(t, err)
		require.Contains(t, string(b), `"replayed_from": {`)
		require.Contains(t, string(b), `"file": "`+r.From+`"`)
	}
	pythonVerify(t, paths...)
	code, _, _ = ctl(t, "--state-dir", s.dir, "verify")
	require.Equal(t, 1, code, "the fresh tampered one is still there")
	s.intact(t)

	// Everything out, even the replayed: processed/ still untouched.
	code, _, stderr = ctl(t, "--state-dir", s.dir, "prune", "--older-than", "1ns")
	require.Equal(t, 0, code, stderr)
	s.intact(t)
	require.Empty(t, queue(t, s.intents))
}

func queue(t *testing.T, dir string) []string {
	t.Helper()
	n, err := intentNames(dir)
	require.NoError(t, err)
	return n
}

func TestVersion(t *testing.T) {
	code, out, _ := ctl(t, "--version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "intentctl, version "), out)
	require.Contains(t, out, "go version:")
}
