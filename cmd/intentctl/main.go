// Command intentctl lists, shows, verifies and prunes the orchestrator's
// intent files (SPEC §1.1).
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// errBad marks a verify that found bad files (exit 1) apart from usage
// errors (exit 2).
type errBad struct{ n int }

func (e errBad) Error() string { return fmt.Sprintf("%d bad intent file(s)", e.n) }

func defaultDir() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kloros", "intents")
}

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "intentctl",
		Short: "Inspect the orchestrator's intent queue",
		Long: `intentctl reads the intent files kloros-observer writes for the orchestrator
(default directory ~/.kloros/intents). verify checks each file exactly as the
orchestrator does: its sha256 must match the rest of the object re-serialized
as Python's json.dumps(obj, indent=2) in the file's own key order.

Exit status: 0 when all is well, 1 when verify found a bad file, 2 on usage
or I/O errors.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	list := &cobra.Command{
		Use:   "list [DIR]",
		Short: "List pending intents, oldest first: time, age, priority, type, file",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := argDir(a)
			names, err := intentNames(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMITTED\tAGE\tPRIO\tTYPE\tFILE")
			for _, n := range names {
				ts, typ, _, ok := intentfile.ParseName(n)
				prio := "?"
				if v, err := readObject(filepath.Join(dir, n)); err == nil {
					if p, ok := v.Get("priority"); ok {
						prio = fmt.Sprint(p)
					}
				}
				if !ok {
					fmt.Fprintf(tw, "?\t?\t%s\t?\t%s\n", prio, n)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ts.Local().Format(time.DateTime), time.Since(ts).Round(time.Second), prio, typ, n)
			}
			tw.Flush()
			fmt.Fprintf(stdout, "%d intent(s) in %s\n", len(names), dir)
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show FILE",
		Short: "Print an intent file and whether it verifies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			b, err := os.ReadFile(a[0])
			if err != nil {
				return err
			}
			stdout.Write(b)
			fmt.Fprintln(stdout)
			if err := intentfile.Verify(b); err != nil {
				fmt.Fprintf(stdout, "verify: BAD: %v\n", err)
				return errBad{1}
			}
			fmt.Fprintln(stdout, "verify: ok")
			return nil
		},
	}
	verify := &cobra.Command{
		Use:   "verify DIR|FILE...",
		Short: "Verify intent files; exit 1 naming every bad file and why",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var files []string
			for _, p := range a {
				fi, err := os.Stat(p)
				if err != nil {
					return err
				}
				if !fi.IsDir() {
					files = append(files, p)
					continue
				}
				names, err := intentNames(p)
				if err != nil {
					return err
				}
				for _, n := range names {
					files = append(files, filepath.Join(p, n))
				}
			}
			bad := 0
			for _, f := range files {
				if err := intentfile.VerifyFile(f); err != nil {
					bad++
					fmt.Fprintf(stdout, "BAD %s: %v\n", f, err)
					continue
				}
				fmt.Fprintf(stdout, "ok  %s\n", f)
			}
			fmt.Fprintf(stdout, "%d file(s), %d bad\n", len(files), bad)
			if bad > 0 {
				return errBad{bad}
			}
			return nil
		},
	}
	var olderThan time.Duration
	var dryRun bool
	prune := &cobra.Command{
		Use:   "prune [DIR]",
		Short: "Remove intents older than --older-than (by the time in their name)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := argDir(a)
			if olderThan <= 0 {
				return fmt.Errorf("--older-than %s: must be positive", olderThan)
			}
			before := time.Now().Add(-olderThan)
			if dryRun {
				names, err := intentNames(dir)
				if err != nil {
					return err
				}
				for _, n := range names {
					if ts, _, _, ok := intentfile.ParseName(n); ok && ts.Before(before) {
						fmt.Fprintln(stdout, "would remove", n)
					}
				}
				return nil
			}
			removed, unparsable, err := intentfile.Prune(dir, before)
			if err != nil {
				return err
			}
			for _, n := range unparsable {
				fmt.Fprintf(stderr, "left alone (name does not parse): %s\n", n)
			}
			fmt.Fprintf(stdout, "removed %d intent(s) older than %s from %s\n", removed, olderThan, dir)
			return nil
		},
	}
	prune.Flags().DurationVar(&olderThan, "older-than", 24*time.Hour, "age past which intents are removed")
	prune.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be removed")
	root.AddCommand(list, show, verify, prune)

	if err := root.Execute(); err != nil {
		if e, ok := err.(errBad); ok {
			fmt.Fprintln(stderr, "intentctl:", e)
			return 1
		}
		fmt.Fprintln(stderr, "intentctl:", err)
		return 2
	}
	return 0
}

func argDir(a []string) string {
	if len(a) == 1 {
		return a[0]
	}
	return defaultDir()
}

// intentNames lists *.json in dir, sorted (oldest first, as the orchestrator reads them).
func intentNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func readObject(path string) (messages.Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := intentfile.Parse(b)
	if err != nil {
		return nil, err
	}
	o, ok := v.(messages.Object)
	if !ok {
		return nil, fmt.Errorf("not an object")
	}
	return o, nil
}
