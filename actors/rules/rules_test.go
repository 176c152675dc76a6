package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

var update = flag.Bool("update", false, "rewrite testdata/<rule>/<case>/expected.json")

// TestRegistry checks every registered rule: it builds with its defaults,
// subscribes to something, and rejects unknown keys.
func TestRegistry(t *testing.T) {
	want := []string{"dream_error", "gpu_oom", "heartbeat_stall", "lock_contention", "operational_error",
		"phase_duration", "phase_failure", "promotion_cluster"}
	for _, name := range want {
		require.Contains(t, Names(), name)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := New(name, nil)
			require.NoError(t, err)
			require.NotEmpty(t, r.Subscribes())
			var node yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte("no_such_key: 1\n"), &node))
			_, err = New(name, node.Content[0])
			require.ErrorContains(t, err, "no_such_key")
		})
	}
	_, err := New("nope", nil)
	require.ErrorContains(t, err, `unknown rule "nope"`)
	require.Panics(t, func() { Register("gpu_oom", nil) })
}

type line struct {
	At     string         `json:"at"`
	Source string         `json:"source"`
	Type   string         `json:"type"`
	Data   map[string]any `json:"data"`
}

type fired struct {
	At       string          `json:"at"`
	Type     string          `json:"intent_type"`
	Priority int             `json:"priority"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data"`
}

// TestCases walks testdata/<rule>/<case>/: config.yaml (optional),
// events.jsonl ({"at": "90s", "source", "type", "data"}; a line without a
// type only moves time), and expected.json (the intents, with when they
// fired) or expected.err (a substring of the config error). Time is a fake
// clock: the rule is ticked at each TickEvery step up to every line's time.
func TestCases(t *testing.T) {
	start := time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
	dirs, err := filepath.Glob("testdata/*/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		rule := filepath.Base(filepath.Dir(dir))
		t.Run(rule+"/"+filepath.Base(dir), func(t *testing.T) {
			var node *yaml.Node
			if b, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
				var n yaml.Node
				require.NoError(t, yaml.Unmarshal(b, &n))
				if len(n.Content) > 0 {
					node = n.Content[0]
				}
			}
			r, err := New(rule, node)
			if wantErr, e := os.ReadFile(filepath.Join(dir, "expected.err")); e == nil {
				require.Error(t, err)
				require.Contains(t, err.Error(), strings.TrimSpace(string(wantErr)))
				return
			}
			require.NoError(t, err)
			f, err := os.Open(filepath.Join(dir, "events.jsonl"))
			require.NoError(t, err)
			defer f.Close()
			var got []fired
			record := func(now time.Time, ins []messages.Intent) {
				for _, in := range ins {
					data, err := intentfile.Marshal(in.Data)
					require.NoError(t, err)
					if in.Data == nil {
						data = []byte("{}")
					}
					var compact bytes.Buffer
					require.NoError(t, json.Compact(&compact, data))
					got = append(got, fired{At: now.Sub(start).String(), Type: in.Type, Priority: in.Priority,
						Reason: in.Reason, Data: compact.Bytes()})
				}
			}
			now := start
			lastTick := start
			r.OnTick(now) // the actor ticks once at start
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == "" {
					continue
				}
				var l line
				require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
				at, err := time.ParseDuration(l.At)
				require.NoError(t, err)
				target := start.Add(at)
				if every := r.TickEvery(); every > 0 {
					for lastTick.Add(every).Compare(target) <= 0 {
						lastTick = lastTick.Add(every)
						record(lastTick, r.OnTick(lastTick))
					}
				}
				now = target
				if l.Type != "" {
					src := l.Source
					if src == "" {
						src = "test"
					}
					record(now, r.OnEvent(&messages.Event{Source: src, Type: l.Type, TS: now, Data: l.Data}, now))
				}
			}
			require.NoError(t, sc.Err())
			expPath := filepath.Join(dir, "expected.json")
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				if got == nil {
					b = []byte("[]")
				}
				require.NoError(t, os.WriteFile(expPath, append(b, '\n'), 0o644))
				return
			}
			b, err := os.ReadFile(expPath)
			require.NoError(t, err, "run go test ./actors/rules -run TestCases -update to create it")
			var want []fired
			require.NoError(t, json.Unmarshal(b, &want))
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if got == nil {
				gotJSON = []byte("[]")
			}
			if want == nil {
				wantJSON = []byte("[]")
			}
			require.JSONEq(t, string(wantJSON), string(gotJSON))
		})
	}
}
