package chembus

import (
	"encoding/json"
	"testing"
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
