package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type inner struct {
	Every time.Duration `yaml:"every"`
	Names []string      `yaml:"names"`
}

type doc struct {
	Level   string                   `yaml:"level"`
	Count   int                      `yaml:"count"`
	On      bool                     `yaml:"on"`
	Ratio   float64                  `yaml:"ratio"`
	Inner   inner                    `yaml:"inner"`
	ByName  map[string]time.Duration `yaml:"by_name"`
	Items   []inner                  `yaml:"items"`
	Raw     map[string]yaml.Node     `yaml:"raw"`
	Hidden  string                   `yaml:"-"`
	Flat    inner                    `yaml:",inline"`
	private int
}

func TestDecodeKeepsDefaultsAndReadsEverything(t *testing.T) {
	d := doc{Level: "info", Count: 3, Inner: inner{Every: time.Minute, Names: []string{"a"}}, Hidden: "h"}
	lines, ps := Decode([]byte(`
count: 7
on: true
ratio: 0.5
inner:
  every: 90
by_name: {fast: 1.5, slow: 2m}
items:
  - every: 1h
    names: [x, y]
raw:
  r1: {anything: [1, 2]}
every: 3s
`), &d)
	require.NoError(t, ps.Err())
	require.Equal(t, "info", d.Level, "absent keys keep their default")
	require.Equal(t, 7, d.Count)
	require.True(t, d.On)
	require.Equal(t, 0.5, d.Ratio)
	require.Equal(t, 90*time.Second, d.Inner.Every, "plain seconds")
	require.Equal(t, []string{"a"}, d.Inner.Names, "a default inside a section set in part is kept")
	require.Equal(t, map[string]time.Duration{"fast": 1500 * time.Millisecond, "slow": 2 * time.Minute}, d.ByName)
	require.Equal(t, []inner{{Every: time.Hour, Names: []string{"x", "y"}}}, d.Items)
	require.Equal(t, yaml.MappingNode, d.Raw["r1"].Kind, "yaml.Node fields are kept as nodes for their owner to decode")
	require.Equal(t, 3*time.Second, d.Flat.Every, "inline fields are at the parent's level")
	require.Equal(t, "h", d.Hidden)
	require.Equal(t, 2, lines["count"])
	require.Equal(t, 6, lines["inner.every"])
	require.Equal(t, 9, lines["items[0]"])
	require.Equal(t, 7, lines["by_name.fast"])
}

func TestDecodeReportsEveryProblemWithPathAndLine(t *testing.T) {
	var d doc
	_, ps := Decode([]byte(`levl: debug
count: many
inner:
  every: soon
  nmaes: [a]
items: {every: 1s}
by_name:
  x: [1]
on: maybe
`), &d)
	require.Len(t, ps, 7, "%v", ps)
	msg := ps.Err().Error()
	for _, want := range []string{
		`levl (line 1): unknown key; did you mean "level"?`,
		"count (line 2) = many: must be a whole number",
		"inner.every (line 4) = soon: must be a duration such as 30s, 10m, 1h30m, or a number of seconds such as 30",
		`inner.nmaes (line 5): unknown key; did you mean "names"?`,
		"items (line 6): must be a list, not a mapping",
		"by_name.x (line 8): must be a duration such as 30s or a number of seconds, not a list",
		"on (line 9) = maybe: must be true or false",
	} {
		require.Contains(t, msg, want)
	}
	require.Contains(t, msg, "7 problems:")
}

func TestDecodeSyntaxErrorAndEmpty(t *testing.T) {
	var d doc
	_, ps := Decode([]byte("inner:\n  every: [\n"), &d)
	require.Len(t, ps, 1)
	require.Equal(t, "(file)", ps[0].Path)
	require.NotZero(t, ps[0].Line)
	_, ps = Decode(nil, &d)
	require.NoError(t, ps.Err())
	_, ps = Decode([]byte("- a\n- b\n"), &d)
	require.ErrorContains(t, ps.Err(), "the file must be a mapping of keys to values, not a list")
}

func TestUnknownKeyFarFromAnyListsTheValidOnes(t *testing.T) {
	require.Equal(t, "unknown key; valid keys here: a, b", UnknownKey("zzzzzz", []string{"b", "a"}))
	require.Equal(t, `unknown key; did you mean "threshold"?`, UnknownKey("treshold", []string{"threshold", "window"}))
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30": 30 * time.Second, "0.25": 250 * time.Millisecond, "1m30s": 90 * time.Second, "0": 0, "-1s": -time.Second} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "soon", "1e300", "10 minutes"} {
		_, err := ParseDuration(bad)
		require.Error(t, err, bad)
	}
}

func TestDurationFlag(t *testing.T) {
	var d time.Duration
	f := DurationFlag{D: &d}
	require.NoError(t, f.Set("30"))
	require.Equal(t, 30*time.Second, d)
	require.ErrorContains(t, f.Set("0"), "must be positive")
	require.ErrorContains(t, f.Set("later"), `want seconds (30) or a duration (30s, 1m), got "later"`)
	require.NoError(t, DurationFlag{D: &d, AllowZero: true}.Set("0"))
	require.Equal(t, time.Duration(0), d)
}

func TestCheckerPathsLinesAndWarnings(t *testing.T) {
	v := NewChecker(Lines{"a.b": 4})
	a := v.At("a")
	a.Positive("b", 0)
	a.OneOf("c", "x", "y", "z")
	a.NotEmpty("d", "")
	a.At("e").AtLeast("[2].f", 1, 5)
	a.Warn("b", 1, "is low")
	require.Len(t, v.Problems(), 4)
	msg := v.Err().Error()
	require.True(t, strings.HasPrefix(msg, "4 problems:\n  a.b (line 4) = 0s: must be a positive duration"), msg)
	require.Contains(t, msg, "a.c = x: must be one of y or z")
	require.Contains(t, msg, `a.d = "": must not be empty`)
	require.Contains(t, msg, "a.e[2].f = 1: must be >= 5")
	require.Equal(t, "a.b (line 4) = 1: is low", v.Warnings()[0].Error())
}
