package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

// TestRouterReadsCuriosityIntents reads every curiosity_investigate intent
// of the golden cases the way the colony's intent router does: it forwards
// data.question, question_id, evidence, hypothesis and capability_key as
// the facts of Q_CURIOSITY_INVESTIGATE (a missing one becomes ""), and its
// queue deduplicates curiosity_* intents by question_id + hypothesis. None
// may be empty, and two distinct cases must never share a question_id.
func TestRouterReadsCuriosityIntents(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*/expected.json")
	require.NoError(t, err)
	ids := map[string]string{}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var intents []struct {
			Type string         `json:"intent_type"`
			Data map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(b, &intents))
		for i, in := range intents {
			if in.Type != "curiosity_investigate" {
				continue
			}
			n++
			facts := map[string]any{}
			for _, k := range []string{"question", "question_id", "evidence", "hypothesis", "capability_key"} {
				v, ok := in.Data[k]
				if !ok {
					v = "" // the router's .get(k, "")
				}
				facts[k] = v
			}
			for k, v := range facts {
				switch x := v.(type) {
				case string:
					require.NotEmpty(t, x, "%s intent %d: %s forwarded empty", f, i, k)
				case []any:
					require.Len(t, x, 5, "%s intent %d: evidence is message, source, context, severity, timestamp", f, i)
					for _, e := range x {
						s, ok := e.(string)
						require.True(t, ok && s != "", "%s intent %d: evidence item %v", f, i, e)
					}
				default:
					t.Fatalf("%s intent %d: %s is %T", f, i, k, v)
				}
			}
			require.Contains(t, []any{"critical", "high", "normal"}, in.Data["priority"])
			id := facts["question_id"].(string)
			where := f + "#" + string(rune('0'+i))
			prev, dup := ids[id]
			require.False(t, dup, "question_id %s shared by %s and %s", id, prev, where)
			ids[id] = where
		}
	}
	require.GreaterOrEqual(t, n, 7, "the golden cases hold service, kernel and audit curiosity intents")
}

// A rule file with several problems reports all of them, each at its
// file:line:col.
func TestLoadReportsEveryProblem(t *testing.T) {
	src := `version: 1
rules:
  - name: a
    kind: match
    on: [x]
    when: data.value > "3" +
    intent: {type: t, priority: 5, reason: r}
  - name: b
    kind: nosuch
    on: [x]
    intent: {type: t, priority: 11, reason: "{{ nope }}"}
  - name: a
    kind: count
    on: [x]
    window: soon
    intent: {type: t, priority: 1, reason: r}
`
	p := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	_, err := Load([]string{p}, map[string]any{"zzz": map[string]any{"x": 1}})
	var le *LoadError
	require.ErrorAs(t, err, &le)
	msg := err.Error()
	for _, want := range []string{
		p + `:6:`, // the when expression
		p + `:9:11: rule "b": unknown kind "nosuch"`,
		p + `:11:33: rule "b": intent.priority = 11: must be 0..10`,
		p + `:11:49: rule "b": unknown name nope`,
		p + `:15:13: rule "a": window = soon: want a duration`,
		"rules.zzz: no such rule",
	} {
		require.Contains(t, msg, want)
	}
	require.Len(t, le.Problems, 6, msg)
}

// A signal whose report is missing, too large or does not match its sha256
// is counted by reason and fires nothing.
func TestPhaseReportProblemsCounted(t *testing.T) {
	before := ReportProblems()
	set, err := Load(nil, map[string]any{"test_flakes": map[string]any{"max_bytes": 100}})
	require.NoError(t, err)
	got := drive(t, set.Rule("test_flakes").New(), "testdata/test_flakes/refused/events.jsonl")
	require.Empty(t, got)
	after := ReportProblems()
	for _, reason := range []string{"sha_mismatch", "missing", "too_large"} {
		require.Greater(t, after[reason], before[reason], reason)
	}
	require.Equal(t, before["missing"]+2, after["missing"], "a missing report and a missing signal")
}

// Overrides are checked against the parameters a rule declares.
func TestOverridesValidated(t *testing.T) {
	_, err := Load(nil, map[string]any{"gpu_oom": map[string]any{"priority": 3, "prio": 1}})
	require.ErrorContains(t, err, `rules.gpu_oom: unknown parameter "prio" (known: priority)`)
	_, err = Load(nil, map[string]any{"gpu_oom": "loud"})
	require.ErrorContains(t, err, "rules.gpu_oom: want a mapping")
	s, err := Load(nil, map[string]any{"promotion_cluster": map[string]any{"window": "20m"}})
	require.NoError(t, err)
	require.NotEqual(t, Default().Rule("promotion_cluster").Hash(), s.Rule("promotion_cluster").Hash(),
		"an override changes the rule's hash")
	require.Equal(t, Default().Rule("gpu_oom").Hash(), s.Rule("gpu_oom").Hash())
}

func TestDefaultFileCoversSpec(t *testing.T) {
	set := Default()
	routes := set.Routes()
	for _, typ := range []string{"error_kernel_critical", "error_kernel_operational", "systemd_disabled",
		"service_restart", "phase_signal", "promotion_new", "dream_error"} {
		require.NotEmpty(t, routes[typ], typ)
	}
	require.True(t, set.Rule("operational_error").NeverRateLimited())
	require.True(t, strings.HasPrefix(set.Rule("gpu_oom").Source(), DefaultName+":"))
}

// The shipped rules' own test file passes (make test runs it through go
// test; operators run it with `kloros-observer rules test`).
func TestShippedRuleTests(t *testing.T) {
	var out strings.Builder
	failed, err := RunTestFile("testdata/default_rules.test.yaml", &out)
	require.NoError(t, err)
	require.Zero(t, failed, out.String())
}

// A test file with wrong expectations fails and says what fired instead.
func TestRuleTestsReportFailures(t *testing.T) {
	var out strings.Builder
	failed, err := RunTestFile("testdata/failing_rules.test.yaml", &out)
	require.NoError(t, err)
	require.Equal(t, 1, failed)
	require.Contains(t, out.String(), "FAIL testdata/failing_rules.test.yaml: wrong priority and a missing intent")
	require.Contains(t, out.String(), "expected at 1s: alert_gpu_oom priority 3 , not fired")
	require.Contains(t, out.String(), "expected at 2s: alert_disk_space")
	require.Contains(t, out.String(), "unexpected at 1s: rule gpu_oom → alert_gpu_oom priority 9")
}

// Replay over spooled event files prints the intents, in time order, and
// writes nothing.
func TestReplaySpool(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a", "b", "c"} {
		ts := strconv.FormatInt(testStart.Unix()+int64(i*60), 10) + ".0"
		body := `{"source":"inotify","type":"promotion_new","ts":` + ts + `,"data":{"path":"/p/` + name + `.json"}}`
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0o600))
	evs, skipped, err := ReadSpool(dir)
	require.NoError(t, err)
	require.Equal(t, 1, skipped)
	var out strings.Builder
	n, err := Replay(Default(), evs, time.Time{}, testStart.Add(20*time.Minute), &out, nil)
	require.NoError(t, err)
	require.Equal(t, 2, n, out.String()) // the cluster, and the stall of a D-REAM that never beat
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Contains(t, lines[0], `"rule":"promotion_cluster","intent_type":"trigger_phase_promotion_cluster"`)
	require.Contains(t, lines[0], `"at":"2026-11-23T04:02:00Z"`)
	require.Contains(t, lines[0], `"data":{"promotion_count":3,"promotion_files":["/p/a.json","/p/b.json","/p/c.json"]}`)
	require.Contains(t, lines[1], `"at":"2026-11-23T04:05:00Z","rule":"heartbeat_stall"`)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 4, "replay writes nothing")
}

// A reload keeps the rules whose definition and parameters did not change.
func TestDiffForReload(t *testing.T) {
	old := Default()
	next, err := Load(nil, map[string]any{"gpu_oom": map[string]any{"priority": 10}})
	require.NoError(t, err)
	kept, changed, added, removed := Diff(old, next)
	require.Equal(t, []string{"gpu_oom"}, changed)
	require.Len(t, kept, len(old.Rules())-1)
	require.Empty(t, added)
	require.Empty(t, removed)

	p := filepath.Join(t.TempDir(), "one.yaml")
	require.NoError(t, os.WriteFile(p, []byte("rules:\n  - name: only\n    kind: match\n    on: [x]\n    intent: {type: t, priority: 1, reason: r}\n"), 0o644))
	one, err := Load([]string{p}, nil)
	require.NoError(t, err)
	_, _, added, removed = Diff(old, one)
	require.Equal(t, []string{"only"}, added)
	require.Len(t, removed, len(old.Rules()))
}

// The rate kind's running sums equal a recount of its ring whatever the
// steps between events.
func TestRateSumsMatchRecount(t *testing.T) {
	c := Default().Rule("promotion_velocity")
	in := c.New()
	now := testStart
	steps := []time.Duration{time.Second, 61 * time.Second, 5 * time.Minute, 0, 47 * time.Minute, 3 * time.Hour, 26 * time.Hour, 90 * time.Second}
	for i := range 400 {
		now = now.Add(steps[i%len(steps)])
		in.OnEvent(&messages.Event{Source: "t", Type: "promotion_new", TS: now}, now)
		if i%7 == 0 {
			in.OnTick(now)
		}
		g := in.groups[""].g.(*rateGroup)
		count, base := g.count, g.base
		g.sum()
		require.Equal(t, g.count, count, "event %d", i)
		require.Equal(t, g.base, base, "event %d", i)
	}
}
