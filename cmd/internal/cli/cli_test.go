package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/supervision/buildinfo"
)

func TestGenDocsWritesManPagesAndCompletions(t *testing.T) {
	root := &cobra.Command{Use: "toolx", Short: "a tool", RunE: func(*cobra.Command, []string) error { return nil }}
	root.AddCommand(&cobra.Command{Use: "sub", Short: "a subcommand", Run: func(*cobra.Command, []string) {}})
	AddDocs(root)
	dir := t.TempDir()
	root.SetArgs([]string{"__gendocs", dir})
	require.NoError(t, root.Execute())
	man, err := os.ReadFile(filepath.Join(dir, "man1", "toolx.1"))
	require.NoError(t, err)
	require.Contains(t, string(man), `.TH "toolx" "1"`)
	require.FileExists(t, filepath.Join(dir, "man1", "toolx-sub.1"))
	require.NoFileExists(t, filepath.Join(dir, "man1", "toolx-__gendocs.1"), "hidden")
	require.NoFileExists(t, filepath.Join(dir, "man1", "toolx-completion-bash.1"), "the scripts are installed, not their generator's pages")
	for _, f := range []string{"bash/toolx", "zsh/_toolx", "fish/toolx.fish"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err, f)
		require.Contains(t, string(b), "toolx", f)
	}
	out, err := exec.Command("bash", "-n", filepath.Join(dir, "bash", "toolx")).CombinedOutput()
	require.NoError(t, err, "bash completion must parse: %s", out)
}

func TestVersionIsPrometheusStyle(t *testing.T) {
	old := buildinfo.Version
	buildinfo.Version, buildinfo.Revision = "v1.2.3", "0123abcd"
	t.Cleanup(func() { buildinfo.Version, buildinfo.Revision = old, "" })
	root := &cobra.Command{Use: "toolx", Run: func(*cobra.Command, []string) {}}
	SetVersion(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--version"})
	require.NoError(t, root.Execute())
	lines := strings.Split(out.String(), "\n")
	require.Equal(t, "toolx, version v1.2.3 (branch: unknown, revision: 0123abcd)", lines[0])
	require.Contains(t, out.String(), "  go version:       go")
	require.Contains(t, out.String(), "  build date:       ")
}
