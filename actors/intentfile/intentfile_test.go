package intentfile

import (
	"encoding/json"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestPythonFixturesVerify(t *testing.T) {
	files, err := filepath.Glob("testdata/python-intents/*.json")
	require.NoError(t, err)
	require.Len(t, files, 5)
	for _, f := range files {
		require.NoError(t, VerifyFile(f), f)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		v, err := Parse(b)
		require.NoError(t, err)
		again, err := Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(b), string(again), "parse+marshal reproduces %s byte for byte", f)
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 0: "0.0", math.Copysign(0, -1): "-0.0", 0.0001: "0.0001", 1e-05: "1e-05",
		1e16: "1e+16", 1e15: "1000000000000000.0", 1.5e-07: "1.5e-07", 0.1: "0.1", -2.5: "-2.5",
		1e22: "1e+22", 123456789012345678: "1.2345678901234568e+17", 1795352857.5633192: "1795352857.5633192",
		1e100: "1e+100", 5e-324: "5e-324", 50: "50.0",
	} {
		got, err := PyFloat(f)
		require.NoError(t, err)
		require.Equal(t, want, got, "%v", f)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := PyFloat(f)
		require.Error(t, err)
	}
}

func TestMarshalGolden(t *testing.T) {
	v := messages.Object{
		{Key: "s", Value: "tab\there \u0001 \"q\" \\ é ✓ 🚀 \x7f"},
		{Key: "n", Value: 3}, {Key: "f", Value: 2.0}, {Key: "big", Value: Int("123456789012345678901234567890")},
		{Key: "e", Value: messages.Object{}}, {Key: "a", Value: []any{}},
		{Key: "nest", Value: map[string]any{"b": []any{1, nil, true}, "a": false}},
	}
	got, err := Marshal(v)
	require.NoError(t, err)
	want := `{
  "s": "tab\there \u0001 \"q\" \\ \u00e9 \u2713 \ud83d\ude80 \u007f",
  "n": 3,
  "f": 2.0,
  "big": 123456789012345678901234567890,
  "e": {},
  "a": [],
  "nest": {
    "a": false,
    "b": [
      1,
      null,
      true
    ]
  }
}`
	require.Equal(t, want, string(got))
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "{", `{"a" 1}`, `{"a":1,}`, "[1,]", `"\x"`, "01", "1.", "1e", `{"a":1} x`, "nul", "\"a\x01\""} {
		_, err := Parse([]byte(in))
		require.Error(t, err, "%q", in)
	}
	v, err := Parse([]byte(`{"a": 1E16, "b": 2.0, "c": -0, "a": 3}`))
	require.NoError(t, err)
	out, err := Marshal(v)
	require.NoError(t, err)
	require.Equal(t, "{\n  \"a\": 3,\n  \"b\": 2.0,\n  \"c\": 0\n}", string(out), "Python keeps the last value of a repeated key at the first place")
	v, err = Parse([]byte(`[1E16]`))
	require.NoError(t, err)
	out, _ = Marshal(v)
	require.Equal(t, "[\n  1e+16\n]", string(out))
}

func sampleIntents() []messages.Intent {
	gen := time.Unix(1795352857, 563319200)
	return []messages.Intent{
		{Type: "alert_gpu_oom", Priority: 9, Reason: "GPU out of memory ✓ 🚀 – ünïcode", GeneratedAt: gen,
			Data: messages.Object{{Key: "message", Value: "CUDA out of memory \u2713 \U0001F680"}, {Key: "suggestions", Value: []any{}}}},
		{Type: "suggest_lock_optimization", Priority: 5, Reason: "floats", GeneratedAt: gen,
			Data: messages.Object{
				{Key: "tiny", Value: 1e-05}, {Key: "big", Value: 1e+16}, {Key: "small", Value: 1.5e-07}, {Key: "frac", Value: 0.1},
				{Key: "huge", Value: 1e22}, {Key: "int", Value: int64(123456789012345678)}, {Key: "bigint", Value: new(big.Int).Lsh(big.NewInt(1), 100)},
				{Key: "neg", Value: -2.5}, {Key: "whole", Value: 50.0},
			}},
		{Type: "curiosity_investigate", Priority: 10, Reason: "ctl \u0001\t\n\r\"\\", GeneratedAt: gen,
			Data: messages.Object{{Key: "nested", Value: messages.Object{{Key: "a", Value: messages.Object{{Key: "b", Value: []any{1, 2.0, nil, true, false}}}}}}, {Key: "empty", Value: messages.Object{}}}},
		{Type: "weird type/with space", Priority: 0, Reason: "", GeneratedAt: gen},
	}
}

func TestEncodeVerifiesAndNames(t *testing.T) {
	at := time.UnixMilli(1795352857600)
	for _, in := range sampleIntents() {
		enc, err := Encode(&in, at)
		require.NoError(t, err)
		require.NoError(t, Verify(enc.Body), "%s", enc.Body)
		require.NotContains(t, enc.Name, "/")
		require.NotContains(t, enc.Name, " ")
		ts, typ, h8, ok := ParseName(enc.Name)
		require.True(t, ok, enc.Name)
		require.Equal(t, at, ts)
		require.Equal(t, SanitizeType(in.Type), typ)
		require.Equal(t, enc.Dedup[:8], h8)
		require.True(t, strings.HasPrefix(enc.Name, "1795352857600_"))
	}
	bad := messages.Intent{Type: "x", Priority: 11}
	_, err := Encode(&bad, at)
	require.ErrorContains(t, err, "priority 11")
	dup := messages.Intent{Type: "x", Data: messages.Object{{Key: "k", Value: 1}, {Key: "k", Value: 2}}}
	_, err = Encode(&dup, at)
	require.ErrorContains(t, err, "duplicate key")
	nan := messages.Intent{Type: "x", Data: messages.Object{{Key: "v", Value: math.NaN()}}}
	_, err = Encode(&nan, at)
	require.ErrorContains(t, err, "NaN")
}

func TestVerifyRejectsTampering(t *testing.T) {
	in := sampleIntents()[0]
	enc, err := Encode(&in, time.Now())
	require.NoError(t, err)
	for name, mut := range map[string]func(string) string{
		"changed priority": func(s string) string { return strings.Replace(s, `"priority": 9`, `"priority": 8`, 1) },
		"changed sha":      func(s string) string { return strings.Replace(s, `"sha256": "`, `"sha256": "0`, 1)[:len(s)] + "}" },
		"compact form":     func(s string) string { return strings.ReplaceAll(s, "\n  ", "\n") },
		"truncated":        func(s string) string { return s[:len(s)/2] },
		"not object":       func(string) string { return "[]" },
		"no sha":           func(s string) string { return s[:strings.Index(s, ",\n  \"sha256\"")] + "\n}" },
	} {
		err := Verify([]byte(mut(string(enc.Body))))
		require.Error(t, err, name)
	}
}

// TestPythonRoundTrip runs the real Python json module over written files:
// json.dumps(obj without sha256, indent=2) must reproduce the hashed bytes.
func TestPythonRoundTrip(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("python3 is needed: apt-get install python3")
	}
	dir := t.TempDir()
	var files []File
	for _, in := range sampleIntents() {
		enc, err := Encode(&in, time.Now())
		require.NoError(t, err)
		files = append(files, File{Name: enc.Name, Body: enc.Body})
	}
	for _, err := range CommitBatch(dir, files) {
		require.NoError(t, err)
	}
	script := `
import glob, hashlib, json, sys
ok = 0
for p in sorted(glob.glob(sys.argv[1] + "/*.json")):
    raw = open(p, "rb").read()
    obj = json.loads(raw)
    sha = obj.pop("sha256")
    body = json.dumps(obj, indent=2).encode()
    assert hashlib.sha256(body).hexdigest() == sha, p
    obj["sha256"] = sha
    assert json.dumps(obj, indent=2).encode() == raw, p
    ok += 1
print(ok)
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "4\n", string(out))
}

func TestCommitBatchModesAndNoTmp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "intents")
	errs := CommitBatch(dir, []File{{Name: "1_x_00000000.json", Body: []byte("{}")}, {Name: "2_x_00000000.json", Body: []byte("{}")}})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(dir, "1_x_00000000.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.Empty(t, tmps)

	// A path that is a file, not a directory: every file fails, nothing half-written.
	blocker := filepath.Join(t.TempDir(), "blocker")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	for _, err := range CommitBatch(blocker, []File{{Name: "1_x_00000000.json", Body: []byte("{}")}}) {
		require.Error(t, err)
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-25 * time.Hour).UnixMilli()
	fresh := now.Add(-time.Hour).UnixMilli()
	for _, n := range []string{
		filepathName(old), filepathName(fresh), "notes.json", "x_1.json", "123_a_b_c.tmp",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o600))
	}
	n, err := RemoveStale(dir)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	left, _ := os.ReadDir(dir)
	require.Len(t, left, 4, "only the .tmp goes")
}

func filepathName(ms int64) string {
	return strings.Join([]string{itoa(ms), "alert_gpu_oom", "abcdef01.json"}, "_")
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func FuzzEncodeVerify(f *testing.F) {
	f.Add("alert", "reason ✓", "k", "v 🚀", 1.5, int64(3))
	f.Add("t", "", "", "\x00\x7f", 1e-300, int64(-1))
	f.Fuzz(func(t *testing.T, typ, reason, key, sval string, fl float64, n int64) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			return
		}
		if key == "f" || key == "n" || key == "l" {
			key += "_"
		}
		in := messages.Intent{Type: typ + "x", Priority: int(uint64(n) % 11), Reason: reason,
			Data: messages.Object{{Key: key, Value: sval}, {Key: "f", Value: fl}, {Key: "n", Value: n}, {Key: "l", Value: []any{sval, fl}}}}
		enc, err := Encode(&in, time.UnixMilli(1795352857600))
		require.NoError(t, err)
		require.NoError(t, Verify(enc.Body))
		_, _, _, ok := ParseName(enc.Name)
		require.True(t, ok, enc.Name)
	})
}

func TestMarshalCompact(t *testing.T) {
	b, err := MarshalCompact(messages.Object{{Key: "a", Value: 1.0}, {Key: "b", Value: []any{1, "é"}},
		{Key: "c", Value: messages.Object{{Key: "d", Value: nil}}}, {Key: "e", Value: messages.Object{}}})
	require.NoError(t, err)
	require.Equal(t, `{"a":1.0,"b":[1,"\u00e9"],"c":{"d":null},"e":{}}`, string(b))
}
