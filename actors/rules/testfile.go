package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// TestFile is a rule test file, like promtool's: the rule files under test,
// then cases of input events with times and the intents expected, with
// times.
//
//	rule_files: [default.yaml]   # relative to this file; none: the embedded default
//	overrides: {promotion_cluster: {threshold: 2}}
//	tests:
//	  - name: three promotions make a cluster
//	    start: 2026-11-23T04:00:00Z   # optional
//	    events:
//	      - {at: 0s, source: inotify, type: promotion_new, data: {path: /p/a.json}}
//	      - {at: 2m, source: inotify, type: promotion_new, data: {path: /p/b.json}}
//	    until: 30m                     # optional: keep time running to here
//	    expect:
//	      - at: 2m
//	        rule: promotion_cluster    # optional
//	        intent_type: trigger_phase_promotion_cluster
//	        priority: 7                # optional
//	        reason: "..."              # optional
//	        data: {promotion_count: 2} # optional: these keys, these values
//
// Every intent fired must be expected and every expected intent must fire.
type TestFile struct {
	RuleFiles []string                  `yaml:"rule_files"`
	Overrides map[string]map[string]any `yaml:"overrides"`
	Tests     []TestCase                `yaml:"tests"`
}

// TestCase is one case of a TestFile.
type TestCase struct {
	Name   string         `yaml:"name"`
	Start  time.Time      `yaml:"start"`
	Events []TestEvent    `yaml:"events"`
	Until  time.Duration  `yaml:"until"`
	Expect []TestExpected `yaml:"expect"`
}

// TestEvent is an input event; one with no type only moves time.
type TestEvent struct {
	At     time.Duration  `yaml:"at"`
	Source string         `yaml:"source"`
	Type   string         `yaml:"type"`
	Data   map[string]any `yaml:"data"`
}

// TestExpected is an intent a case expects.
type TestExpected struct {
	At         time.Duration  `yaml:"at"`
	Rule       string         `yaml:"rule"`
	IntentType string         `yaml:"intent_type"`
	Priority   *int           `yaml:"priority"`
	Reason     *string        `yaml:"reason"`
	Data       map[string]any `yaml:"data"`
}

// DefaultTestStart is when a case starts unless it says otherwise.
var DefaultTestStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RunTestFile runs a test file and writes what failed to w. It returns the
// number of failed cases; err is a file that could not be read or loaded.
func RunTestFile(path string, w io.Writer) (failed int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var tf TestFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	var files []string
	for _, f := range tf.RuleFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		files = append(files, f)
	}
	over := map[string]any{}
	for k, v := range tf.Overrides {
		over[k] = v
	}
	set, err := Load(files, over)
	if err != nil {
		return 0, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i, tc := range tf.Tests {
		name := tc.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if problems := runCase(set, tc, quiet); len(problems) > 0 {
			failed++
			fmt.Fprintf(w, "FAIL %s: %s\n", path, name)
			for _, p := range problems {
				fmt.Fprintf(w, "    %s\n", p)
			}
		}
	}
	return failed, nil
}

func runCase(set *Set, tc TestCase, log *slog.Logger) []string {
	start := tc.Start
	if start.IsZero() {
		start = DefaultTestStart
	}
	sim := NewSim(set, start, log)
	var got []Fired
	last := time.Duration(0)
	for _, e := range tc.Events {
		if e.At < last {
			return []string{fmt.Sprintf("events must be in time order (%s after %s)", e.At, last)}
		}
		last = e.At
		at := start.Add(e.At)
		if e.Type == "" {
			got = append(got, sim.Advance(at)...)
			continue
		}
		src := e.Source
		if src == "" {
			src = "test"
		}
		got = append(got, sim.Event(&messages.Event{Source: src, Type: e.Type, TS: at, Data: e.Data})...)
	}
	if tc.Until > last {
		got = append(got, sim.Advance(start.Add(tc.Until))...)
	}
	var problems []string
	used := make([]bool, len(got))
	for _, x := range tc.Expect {
		found := false
		for i, f := range got {
			if !used[i] && matches(x, f, start) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("expected at %s: %s %s, not fired", x.At, x.IntentType, describe(x)))
		}
	}
	for i, f := range got {
		if !used[i] {
			data, _ := intentfile.MarshalCompact(f.Intent.Data)
			problems = append(problems, fmt.Sprintf("unexpected at %s: rule %s → %s priority %d reason %q data %s",
				f.At.Sub(start), f.Rule, f.Intent.Type, f.Intent.Priority, f.Intent.Reason, data))
		}
	}
	return problems
}

func describe(x TestExpected) string {
	b, _ := json.Marshal(x.Data)
	s := ""
	if x.Rule != "" {
		s += "rule " + x.Rule + " "
	}
	if x.Priority != nil {
		s += fmt.Sprintf("priority %d ", *x.Priority)
	}
	if x.Reason != nil {
		s += fmt.Sprintf("reason %q ", *x.Reason)
	}
	if x.Data != nil {
		s += "data ⊇ " + string(b)
	}
	return s
}

func matches(x TestExpected, f Fired, start time.Time) bool {
	if f.At.Sub(start) != x.At || f.Intent.Type != x.IntentType {
		return false
	}
	if x.Rule != "" && x.Rule != f.Rule {
		return false
	}
	if x.Priority != nil && *x.Priority != f.Intent.Priority {
		return false
	}
	if x.Reason != nil && *x.Reason != f.Intent.Reason {
		return false
	}
	if x.Data == nil {
		return true
	}
	gotJSON, err := intentfile.MarshalCompact(f.Intent.Data)
	if err != nil {
		return false
	}
	var got map[string]any
	if json.Unmarshal(gotJSON, &got) != nil {
		return false
	}
	for k, want := range x.Data {
		wb, _ := json.Marshal(want)
		var w any
		_ = json.Unmarshal(wb, &w)
		if !reflect.DeepEqual(w, got[k]) {
			return false
		}
	}
	return true
}
