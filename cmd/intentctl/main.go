// Command intentctl lists, shows, verifies and archives the orchestrator's
// intent files (SPEC §1.1), reads the intent archive and replays from it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kloros/kloros-observer/actors/archive"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/cmd/internal/cli"
	"github.com/kloros/kloros-observer/messages"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// errBad marks a command that found bad files (exit 1) apart from usage
// errors (exit 2).
type errBad struct{ n int }

func (e errBad) Error() string { return fmt.Sprintf("%d bad intent file(s)", e.n) }

// app holds the global flags.
type app struct {
	stateDir      string
	archiveDir    string
	quarantineDir string
	output        string
	stdout        io.Writer
	stderr        io.Writer
	now           func() time.Time
}

func defaultStateDir() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kloros")
}

func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, now: time.Now}
	root := &cobra.Command{
		Use:   "intentctl",
		Short: "Inspect the orchestrator's intent queue, the intent archive, and replay from it",
		Long: `intentctl reads the intent files kloros-observer writes for the orchestrator
(default directory <state-dir>/intents, state dir ~/.kloros). verify checks each
file exactly as the orchestrator does: its sha256 must match the rest of the
object re-serialized as Python's json.dumps(obj, indent=2) in the file's own
key order.

Intents past their age are not deleted: prune (and the daemon) moves them into
the archive (<state-dir>/archive, one gzip file per day) and those that fail
verification into the quarantine (<state-dir>/quarantine, each with a .reason).
archive list|show|grep read it; replay puts chosen intents back into the queue.
The orchestrator's own <intents>/processed/ subtree is shown, never changed.

Exit status: 0 when all is well, 1 when bad files were found, 2 on usage or
I/O errors.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "text" && a.output != "json" {
				return fmt.Errorf("--output %q: must be text or json", a.output)
			}
			return nil
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cli.SetVersion(root)
	cli.AddDocs(root)
	pf := root.PersistentFlags()
	pf.StringVar(&a.stateDir, "state-dir", defaultStateDir(), "state directory: intents, archive and quarantine are under it")
	pf.StringVar(&a.archiveDir, "archive-dir", "", "intent archive (default <state-dir>/archive)")
	pf.StringVar(&a.quarantineDir, "quarantine-dir", "", "quarantine (default <state-dir>/quarantine)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json (list, show, verify, prune, archive, replay)")

	root.AddCommand(a.listCmd(), a.showCmd(), a.verifyCmd(), a.pruneCmd(), a.archiveCmd(), a.replayCmd())

	if err := root.Execute(); err != nil {
		var bad errBad
		if errors.As(err, &bad) {
			fmt.Fprintln(stderr, "intentctl:", bad)
			return 1
		}
		fmt.Fprintln(stderr, "intentctl:", err)
		return 2
	}
	return 0
}

func (a *app) intentsDir(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return filepath.Join(a.stateDir, "intents")
}

func (a *app) archive() *archive.Archive {
	cfg := archive.Config{Dir: a.archiveDir, QuarantineDir: a.quarantineDir}
	cfg.Resolve(a.stateDir)
	return archive.New(cfg)
}

func (a *app) json(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// pending is one file in the queue.
type pending struct {
	File      string    `json:"file"`
	EmittedAt time.Time `json:"emitted_at,omitzero"`
	Type      string    `json:"intent_type"`
	Priority  *int      `json:"priority"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
}

func readPending(dir string) ([]pending, error) {
	names, err := intentNames(dir)
	if err != nil {
		return nil, err
	}
	out := make([]pending, 0, len(names))
	for _, n := range names {
		p := pending{File: n}
		if ts, typ, _, ok := intentfile.ParseName(n); ok {
			p.EmittedAt, p.Type = ts, typ
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // taken by the orchestrator meanwhile
		}
		if err != nil {
			return nil, err
		}
		if v, err := intentfile.Parse(b); err == nil {
			if o, ok := v.(messages.Object); ok {
				if pr, ok := o.Get("priority"); ok {
					if i, ok := pr.(intentfile.Int); ok {
						var n int
						if _, err := fmt.Sscan(string(i), &n); err == nil {
							p.Priority = &n
						}
					}
				}
			}
		}
		if err := intentfile.Verify(b); err != nil {
			p.Error = err.Error()
		} else {
			p.OK = true
		}
		out = append(out, p)
	}
	return out, nil
}

func prio(p *int) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.Local().Format(time.DateTime)
}

func (a *app) listCmd() *cobra.Command {
	var noProcessed bool
	c := &cobra.Command{
		Use:   "list [DIR]",
		Short: "List pending intents, oldest first, marking those that fail verification (exit 1 if any), then the orchestrator's processed ones",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.intentsDir(args)
			items, err := readPending(dir)
			if err != nil {
				return err
			}
			var processed []archive.Processed
			if !noProcessed {
				if processed, err = archive.ListProcessed(dir); err != nil {
					return err
				}
			}
			bad := 0
			for _, p := range items {
				if !p.OK {
					bad++
				}
			}
			if a.output == "json" {
				if err := a.json(map[string]any{"dir": dir, "pending": nonNil(items), "bad": bad,
					"processed": nonNil(processed)}); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "EMITTED\tAGE\tPRIO\tTYPE\tVERIFY\tFILE")
				for _, p := range items {
					age := "?"
					if !p.EmittedAt.IsZero() {
						age = a.now().Sub(p.EmittedAt).Round(time.Second).String()
					}
					v := "ok"
					if !p.OK {
						v = "BAD: " + p.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(p.EmittedAt), age, prio(p.Priority), orQ(p.Type), v, p.File)
				}
				tw.Flush()
				fmt.Fprintf(a.stdout, "%d intent(s) in %s, %d fail verification\n", len(items), dir, bad)
				if len(processed) > 0 {
					fmt.Fprintf(a.stdout, "\nprocessed by the orchestrator (%s, read-only):\n", filepath.Join(dir, archive.ProcessedDir))
					a.printProcessed(processed)
				}
			}
			if bad > 0 {
				return errBad{bad}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noProcessed, "no-processed", false, "do not show the orchestrator's processed/ intents")
	return c
}

func (a *app) printProcessed(ps []archive.Processed) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMITTED\tMOVED\tBUCKET\tWHY\tTYPE\tFILE")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(p.EmittedAt), when(p.MovedAt), p.Bucket, p.Why, orQ(p.Type), p.Original)
	}
	tw.Flush()
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show FILE",
		Short: "Print an intent file and whether it verifies (exit 1 if not)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			verr := intentfile.Verify(b)
			if a.output == "json" {
				out := map[string]any{"file": args[0], "ok": verr == nil}
				if verr != nil {
					out["error"] = verr.Error()
				}
				if json.Valid(b) {
					out["intent"] = json.RawMessage(b)
				} else {
					out["content"] = string(b)
				}
				if err := a.json(out); err != nil {
					return err
				}
			} else {
				a.stdout.Write(b)
				fmt.Fprintln(a.stdout)
				if verr != nil {
					fmt.Fprintf(a.stdout, "verify: BAD: %v\n", verr)
				} else {
					fmt.Fprintln(a.stdout, "verify: ok")
				}
			}
			if verr != nil {
				return errBad{1}
			}
			return nil
		},
	}
}

func (a *app) verifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [DIR|FILE...]",
		Short: "Verify intent files (default: the intents dir); exit 1 naming every bad file and why",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{a.intentsDir(nil)}
			}
			var files []string
			for _, p := range args {
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
			type result struct {
				File  string `json:"file"`
				OK    bool   `json:"ok"`
				Error string `json:"error,omitempty"`
			}
			results := make([]result, 0, len(files))
			bad := 0
			for _, f := range files {
				r := result{File: f, OK: true}
				if err := intentfile.VerifyFile(f); err != nil {
					bad++
					r.OK, r.Error = false, err.Error()
				}
				results = append(results, r)
			}
			if a.output == "json" {
				if err := a.json(map[string]any{"files": results, "bad": bad}); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(a.stdout, "ok  %s\n", r.File)
					} else {
						fmt.Fprintf(a.stdout, "BAD %s: %s\n", r.File, r.Error)
					}
				}
				fmt.Fprintf(a.stdout, "%d file(s), %d bad\n", len(files), bad)
			}
			if bad > 0 {
				return errBad{bad}
			}
			return nil
		},
	}
}

func (a *app) pruneCmd() *cobra.Command {
	var olderThan time.Duration
	var dryRun bool
	c := &cobra.Command{
		Use:   "prune [DIR]",
		Short: "Move intents older than --older-than into the archive, and those that fail verification into the quarantine",
		Long: `prune moves every intent in DIR (default <state-dir>/intents) whose name's
time is older than --older-than into the archive (<state-dir>/archive, one gzip
file per day), durably, before removing it from the queue. A file that fails
verification goes to the quarantine with a .reason file saying why. Names that
do not parse, and the orchestrator's processed/ subtree, are left alone.
Nothing is deleted. The archive's own retention is applied by the daemon
(emitter.archive.retention), not here.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.intentsDir(args)
			if olderThan <= 0 {
				return fmt.Errorf("--older-than %s: must be positive", olderThan)
			}
			arch := a.archive()
			cfg := arch.Config()
			for _, f := range []struct{ flag, dir string }{{"--archive-dir", cfg.Dir}, {"--quarantine-dir", cfg.QuarantineDir}} {
				if archive.Within(f.dir, dir) {
					return fmt.Errorf("%s %s: must not be inside the intents directory %s (the queue, and the orchestrator's processed/)", f.flag, f.dir, dir)
				}
			}
			now := a.now()
			res, err := arch.Sweep(dir, now.Add(-olderThan), now, dryRun)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.json(map[string]any{"dir": dir, "dry_run": dryRun, "archived": nonNil(res.Archived),
					"archive_file": res.ArchiveFile, "quarantined": nonNil(res.Quarantined), "unparsable": nonNil(res.Unparsable)})
			}
			verb := map[bool]string{true: "would ", false: ""}[dryRun]
			for _, n := range res.Archived {
				fmt.Fprintf(a.stdout, "%sarchive %s\n", verb, n)
			}
			for _, q := range res.Quarantined {
				fmt.Fprintf(a.stdout, "%squarantine %s -> %s: %s\n", verb, q.File, q.Path, q.Reason)
			}
			for _, n := range res.Unparsable {
				fmt.Fprintf(a.stderr, "left alone (name does not parse): %s\n", n)
			}
			summary := "archived %d and quarantined %d intent(s) older than %s from %s"
			if dryRun {
				summary = "would archive %d and quarantine %d intent(s) older than %s from %s"
			}
			fmt.Fprintf(a.stdout, summary, len(res.Archived), len(res.Quarantined), olderThan, dir)
			if res.ArchiveFile != "" {
				fmt.Fprintf(a.stdout, " (archive: %s)", res.ArchiveFile)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	olderThan = 24 * time.Hour
	c.Flags().Var(config.DurationFlag{D: &olderThan}, "older-than", "age past which intents are archived: seconds (86400) or a duration (24h)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be archived or quarantined")
	return c
}

// intentNames lists *.json in dir, sorted (oldest first, as the orchestrator reads them).
func intentNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
