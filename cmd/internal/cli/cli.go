// Package cli holds what the three commands share: --version in
// Prometheus' style, and the hidden __gendocs command that make install
// uses to generate man pages and shell completions from the cobra commands
// themselves (nothing generated is committed).
package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/kloros/kloros-observer/supervision/buildinfo"
)

// SetVersion makes --version print buildinfo.Print(root.Name()).
func SetVersion(root *cobra.Command) {
	root.Version = buildinfo.Short()
	root.SetVersionTemplate(buildinfo.Print(root.Name()))
}

// AddDocs adds the hidden "__gendocs DIR" command: it writes
// DIR/man1/<cmd>.1 (one page per command), DIR/bash/<name>,
// DIR/zsh/_<name> and DIR/fish/<name>.fish.
func AddDocs(root *cobra.Command) {
	root.AddCommand(&cobra.Command{
		Use:    "__gendocs DIR",
		Short:  "Write man pages and shell completions under DIR (used by make install)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return GenDocs(root, a[0])
		},
	})
}

// GenDocs writes root's man pages and completions under dir.
func GenDocs(root *cobra.Command, dir string) error {
	name := root.Name()
	for _, d := range []string{"man1", "bash", "zsh", "fish"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	root.DisableAutoGenTag = true // reproducible pages: no generation date
	// One page per real command: the completion scripts are installed
	// themselves, their generator needs no five pages.
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.Hidden = true
		defer func() { c.Hidden = false }()
	}
	hdr := &doc.GenManHeader{Title: name, Section: "1", Source: "kloros-observer " + buildinfo.Short(), Manual: "kloros-observer manual"}
	if err := doc.GenManTree(root, hdr, filepath.Join(dir, "man1")); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	gen := []struct {
		path string
		fn   func(string) error
	}{
		{filepath.Join(dir, "bash", name), func(p string) error { return root.GenBashCompletionFileV2(p, true) }},
		{filepath.Join(dir, "zsh", "_"+name), root.GenZshCompletionFile},
		{filepath.Join(dir, "fish", name+".fish"), func(p string) error { return root.GenFishCompletionFile(p, true) }},
	}
	for _, g := range gen {
		if err := g.fn(g.path); err != nil {
			return fmt.Errorf("completion %s: %w", g.path, err)
		}
	}
	return nil
}
