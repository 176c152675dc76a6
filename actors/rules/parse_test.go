package rules

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// manyRules is the default file's rules copied k times under new names.
func manyRules(k int) string {
	src := string(DefaultFile)
	head, body, _ := strings.Cut(src, "rules:\n")
	var sb strings.Builder
	sb.WriteString(head + "rules:\n")
	for c := range k {
		copyC := body
		for _, name := range Default().Names() {
			copyC = strings.Replace(copyC, "  - name: "+name+"\n", fmt.Sprintf("  - name: %s_%d\n", name, c), 1)
		}
		sb.WriteString(copyC)
	}
	return sb.String()
}

// sameNodes: every node's kind, tag, style, value, line and column (what the
// rules read; comments are not read) agree.
func sameNodes(t *testing.T, want, got *yaml.Node, path string) {
	t.Helper()
	require.Equal(t, [6]any{want.Kind, want.Tag, want.Style, want.Value, want.Line, want.Column},
		[6]any{got.Kind, got.Tag, got.Style, got.Value, got.Line, got.Column}, path)
	require.Len(t, got.Content, len(want.Content), path)
	for i := range want.Content {
		sameNodes(t, want.Content[i], got.Content[i], fmt.Sprintf("%s/%d", path, i))
	}
}

func TestParseChunkedIsTheWholeParse(t *testing.T) {
	body := []byte(manyRules(20))
	require.Greater(t, len(body), chunkMin)
	var whole yaml.Node
	require.NoError(t, yaml.Unmarshal(body, &whole))
	chunked := parseChunked(body)
	require.NotNil(t, chunked, "the default file's shape is cut into pieces")
	sameNodes(t, &whole, chunked, "")
}

func TestParseChunkedFallsBack(t *testing.T) {
	big := manyRules(20)
	for name, body := range map[string]string{
		"anchor":          strings.Replace(big, "priority: {type: priority, default: 9}", "priority: &p {type: priority, default: 9}", 1),
		"key after rules": big + "extra: 1\n",
		"second document": big + "---\nrules: []\n",
		"small":           string(DefaultFile),
		"bad piece":       big[:len(big)/2] + "  - name: [unclosed\n" + big[len(big)/2:],
	} {
		t.Run(name, func(t *testing.T) {
			require.Nil(t, parseChunked([]byte(body)))
		})
	}
	// a bad file reports the whole parse's error, with its line
	bad := big + "  - name: x\n   kind: [\n"
	_, err := Load([]string{writeTemp(t, bad)}, nil)
	require.Error(t, err)
	var whole yaml.Node
	werr := yaml.Unmarshal([]byte(bad), &whole)
	require.Error(t, werr)
	require.Contains(t, err.Error(), werr.Error())
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := t.TempDir() + "/rules.yaml"
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}
