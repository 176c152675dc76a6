package rules

import (
	"bufio"
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

// TestRegistry derives its names from the registry: every kind is used by
// the default rule file, and rejects a field it does not know.
func TestRegistry(t *testing.T) {
	set := Default()
	used := map[string]bool{}
	for _, r := range set.Rules() {
		used[r.Kind()] = true
	}
	for _, k := range Kinds() {
		t.Run(k, func(t *testing.T) {
			require.True(t, used[k], "kind %s is used by no default rule", k)
			src := string(DefaultFile)
			_, err := loadString(t, strings.Replace(src, "    kind: "+k, "    kind: "+k+"\n    no_such_field: 1", 1))
			require.ErrorContains(t, err, `unknown field "no_such_field" for kind `+k)
		})
	}
	require.Panics(t, func() { RegisterKind("match", newMatch) })
	_, err := New("nope", nil)
	require.ErrorContains(t, err, "rules.nope: no such rule")
}

func loadString(t *testing.T, src string) (*Set, error) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	return Load([]string{p}, nil)
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

var testStart = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

// drive runs events.jsonl ({"at": "90s", "source", "type", "data"}; a line
// without a type only moves time) through r on a fake clock: the rule is
// ticked once at start and at each TickEvery step up to every line's time.
func drive(t *testing.T, r Rule, path string) []fired {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var got []fired
	record := func(now time.Time, ins []messages.Intent) {
		for _, in := range ins {
			data, err := intentfile.MarshalCompact(in.Data)
			require.NoError(t, err)
			got = append(got, fired{At: now.Sub(testStart).String(), Type: in.Type, Priority: in.Priority,
				Reason: in.Reason, Data: data})
		}
	}
	lastTick := testStart
	record(testStart, r.OnTick(testStart)) // the actor ticks once at start
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		at, err := time.ParseDuration(l.At)
		require.NoError(t, err)
		target := testStart.Add(at)
		if every := r.TickEvery(); every > 0 {
			for lastTick.Add(every).Compare(target) <= 0 {
				lastTick = lastTick.Add(every)
				record(lastTick, r.OnTick(lastTick))
			}
		}
		if l.Type != "" {
			src := l.Source
			if src == "" {
				src = "test"
			}
			if l.Data != nil {
				l.Data = expandPaths(l.Data, filepath.Dir(path))
			}
			record(target, r.OnEvent(&messages.Event{Source: src, Type: l.Type, TS: target, Data: l.Data}, target))
		}
	}
	require.NoError(t, sc.Err())
	return got
}

// expandPaths turns a "path" starting with "./" into one inside the case
// directory (PHASE signal files live beside events.jsonl).
func expandPaths(d map[string]any, dir string) map[string]any {
	if p, ok := d["path"].(string); ok && strings.HasPrefix(p, "./") {
		abs, _ := filepath.Abs(filepath.Join(dir, p))
		d["path"] = abs
	}
	return d
}

// canonical re-serializes a JSON value keeping key order and number
// literals (as the orchestrator's verifier does), so two values compare
// equal only if the intent files would hold the same bytes.
func canonical(t *testing.T, raw json.RawMessage) string {
	v, err := intentfile.Parse(raw)
	require.NoError(t, err, string(raw))
	b, err := intentfile.MarshalCompact(v)
	require.NoError(t, err)
	return string(b)
}

// TestCases walks testdata/<rule>/<case>/: config.yaml (optional: the main
// config's rules.<rule> settings), events.jsonl, and expected.json (the
// intents, with when they fired) or expected.err (a substring of the load
// error). The rule comes from the embedded default file. Intents must match
// byte for byte: type, priority, reason, and data in the encoder's form (key
// order, 1.0 vs 1).
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	names := map[string]bool{}
	for _, n := range Names() {
		names[n] = true
	}
	covered := map[string]bool{}
	for _, dir := range dirs {
		rule := filepath.Base(filepath.Dir(dir))
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue // a file such as default_rules.test.yaml
		}
		require.True(t, names[rule], "testdata/%s names no rule of the default file", rule)
		covered[rule] = true
		t.Run(rule+"/"+filepath.Base(dir), func(t *testing.T) {
			var over any
			if b, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
				require.NoError(t, yaml.Unmarshal(b, &over))
			}
			set, err := Load(nil, map[string]any{rule: over})
			if wantErr, e := os.ReadFile(filepath.Join(dir, "expected.err")); e == nil {
				require.Error(t, err)
				require.Contains(t, err.Error(), strings.TrimSpace(string(wantErr)))
				return
			}
			require.NoError(t, err)
			got := drive(t, set.Rule(rule).New(), filepath.Join(dir, "events.jsonl"))
			expPath := filepath.Join(dir, "expected.json")
			if *update {
				for i := range got {
					var v any
					require.NoError(t, json.Unmarshal(got[i].Data, &v))
				}
				b, err := json.MarshalIndent(got, "", "  ")
				require.NoError(t, err)
				if got == nil {
					b = []byte("[]")
				}
				// json.MarshalIndent writes 300.0 as 300: write data as the encoder does.
				require.NoError(t, os.WriteFile(expPath, append(fixFloats(t, b, got), '\n'), 0o644))
				return
			}
			b, err := os.ReadFile(expPath)
			require.NoError(t, err, "run go test ./actors/rules -run TestCases -update to create it")
			var want []fired
			require.NoError(t, json.Unmarshal(b, &want))
			require.Len(t, got, len(want), "intents fired: %s", mustJSON(got))
			for i := range want {
				w, g := want[i], got[i]
				require.Equal(t, w.At, g.At, "intent %d", i)
				require.Equal(t, w.Type, g.Type, "intent %d", i)
				require.Equal(t, w.Priority, g.Priority, "intent %d", i)
				require.Equal(t, w.Reason, g.Reason, "intent %d", i)
				require.Equal(t, canonical(t, w.Data), canonical(t, g.Data), "intent %d data", i)
			}
		})
	}
	for n := range names {
		require.True(t, covered[n], "rule %s has no golden case under testdata/%s/", n, n)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fixFloats rewrites each "data" of an -update'd file with the encoder's
// bytes (json.MarshalIndent would turn 300.0 into 300).
func fixFloats(t *testing.T, _ []byte, got []fired) []byte {
	var sb strings.Builder
	sb.WriteString("[")
	for i, f := range got {
		if i > 0 {
			sb.WriteString(",")
		}
		head, err := json.MarshalIndent(struct {
			At       string `json:"at"`
			Type     string `json:"intent_type"`
			Priority int    `json:"priority"`
			Reason   string `json:"reason"`
		}{f.At, f.Type, f.Priority, f.Reason}, "  ", "  ")
		require.NoError(t, err)
		v, err := intentfile.Parse(f.Data)
		require.NoError(t, err)
		data, err := intentfile.Marshal(v)
		require.NoError(t, err)
		h := strings.TrimSuffix(string(head), "\n  }")
		sb.WriteString("\n  " + h + ",\n    \"data\": " + strings.ReplaceAll(string(data), "\n", "\n    ") + "\n  }")
	}
	if len(got) > 0 {
		sb.WriteString("\n")
	}
	sb.WriteString("]")
	return []byte(sb.String())
}
