package chembus

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzScanPayload: the hand-written scanner accepts exactly the documents
// encoding/json accepts, and reads the same zooid.
func FuzzScanPayload(f *testing.F) {
	for _, s := range []string{heartbeatJSON("z", 1), `{"facts":{"zooid":"a\u00e9\ud83d\ude80"}}`, `[1]`, `{"a":[1,{"b":null}],"c":-1.5e3}`,
		`{"facts":{"zooid":"x"}} x`, `{"a":01}`, `"s"`, `{"facts":{"zooid":"\x"}}`, ``, `{`, `{"a":tru}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // rejected before scanning
		}
		fields, notObject, err := scanPayload(b)
		if errors.Is(err, errTooDeep) {
			return // valid perhaps, but nested past maxDepth: refused
		}
		require.Equal(t, json.Valid(b), err == nil, "%q", b)
		if err != nil || notObject {
			return
		}
		var ref map[string]any // exact keys, as Python reads them
		if json.Unmarshal(b, &ref) == nil {
			if facts, ok := ref["facts"].(map[string]any); ok {
				if z, ok := facts["zooid"].(string); ok {
					require.Equal(t, z, fields.zooid, "%q", b)
				}
			}
		}
	})
}

// A key given twice takes its last value, as Python's json.loads does, so
// the daemon and the colony agree on which zooid a message is (issue 15 #8);
// checked against /usr/bin/python3 itself.
func TestScanDuplicateKeysTakeTheLastValueLikePython(t *testing.T) {
	cases := []string{
		`{"signal":"HEARTBEAT","facts":{"zooid":"first","zooid":"last","niche":"n"}}`,
		`{"signal":"HEARTBEAT","facts":{"zooid":5,"zooid":"last"}}`,
		`{"signal":"HEARTBEAT","facts":{"zooid":"a","niche":"x"},"facts":{"zooid":"b"}}`,
		`{"signal":"HEARTBEAT","facts":{"zooid":"z","uptime_s":"bad","uptime_s":2.5}}`,
		`{"signal":"OTHER","signal":"HEARTBEAT","facts":{"zooid":"s"}}`,
		`{"signal":"HEARTBEAT","ts":"x","ts":1.5,"facts":{"zooid":"t"}}`,
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatal("/usr/bin/python3 is needed by this test: install it with `apt-get install python3`")
	}
	for _, c := range cases {
		out, err := exec.Command("/usr/bin/python3", "-c",
			`import json,sys; d=json.loads(sys.argv[1]); f=d.get("facts",{}); print(json.dumps([d.get("signal"), f.get("zooid"), f.get("niche"), f.get("uptime_s")]))`, c).Output()
		require.NoError(t, err)
		var py []any
		require.NoError(t, json.Unmarshal(out, &py))
		d := decodeFrames([][]byte{[]byte("HEARTBEAT"), []byte(c)}, 1<<16, time.Now())
		require.Empty(t, d.reason, "%s", c)
		require.Equal(t, py[0], "HEARTBEAT", c)
		require.Equal(t, py[1], d.hb.Zooid, c)
		niche, _ := py[2].(string)
		require.Equal(t, niche, d.hb.Niche, c)
		if up, ok := py[3].(float64); ok {
			require.Equal(t, up, d.hb.UptimeS, c)
		}
	}
}

// Nesting is bounded: 10,000 levels of facts are dropped as too_deep, in
// objects or arrays, at the top or inside facts.
func TestScanNestingBounded(t *testing.T) {
	for _, c := range []string{
		`{"signal":"HEARTBEAT","facts":{"zooid":"d","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`,
		`{"signal":"HEARTBEAT","facts":{"zooid":"d","x":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	} {
		d := decodeFrames([][]byte{[]byte("HEARTBEAT"), []byte(c)}, 1<<20, time.Now())
		require.Equal(t, "too_deep", d.reason)
	}
	ok := `{"signal":"HEARTBEAT","facts":{"zooid":"d","x":` + strings.Repeat("[", 60) + strings.Repeat("]", 60) + `}}`
	require.Empty(t, decodeFrames([][]byte{[]byte("HEARTBEAT"), []byte(ok)}, 1<<20, time.Now()).reason)
}
