package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kloros/kloros-observer/actors/archive"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// filterFlags are the selection flags of archive list|grep and replay.
type filterFlags struct {
	since, until, types, priority, file string
	noProcessed                         bool
}

func (f *filterFlags) add(fs *pflag.FlagSet, processed bool) {
	fs.StringVar(&f.since, "since", "", "only intents emitted at or after: RFC 3339, YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' (local) or a duration ago (36h)")
	fs.StringVar(&f.until, "until", "", "only intents emitted before (same forms as --since)")
	fs.StringVar(&f.types, "type", "", "only these intent types (comma-separated)")
	fs.StringVar(&f.priority, "priority", "", "only this priority (N) or range (N-M)")
	fs.StringVar(&f.file, "file", "", "only the intent with this original file name")
	if processed {
		fs.BoolVar(&f.noProcessed, "no-processed", false, "do not show the orchestrator's processed/ intents")
	}
}

// parseTime reads a --since/--until value.
func parseTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateTime, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2026-11-30T04:00:00Z), YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or a duration ago (36h)", flag, s)
}

func (f *filterFlags) filter(pattern string, now time.Time) (archive.Filter, error) {
	var out archive.Filter
	var err error
	if out.Since, err = parseTime("--since", f.since, now); err != nil {
		return out, err
	}
	if out.Until, err = parseTime("--until", f.until, now); err != nil {
		return out, err
	}
	out.Types = archive.ParseTypes(f.types)
	out.File = f.file
	if f.priority != "" {
		lo, hi, found := strings.Cut(f.priority, "-")
		if !found {
			hi = lo
		}
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a < 0 || b > 10 || a > b {
			return out, fmt.Errorf("--priority %q: want N or N-M within 0..10", f.priority)
		}
		out.ByPriority, out.MinPriority, out.MaxPriority = true, a, b
	}
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return out, fmt.Errorf("PATTERN %q: %w", pattern, err)
		}
		out.Pattern = re
	}
	return out, nil
}

// row is one intent at one stage of its life.
type row struct {
	State     string    `json:"state"` // pending, processed, archived
	Where     string    `json:"where"` // the queue dir, processed/<bucket>, the archive day file
	File      string    `json:"file"`  // the name it had in the queue
	EmittedAt time.Time `json:"emitted_at,omitzero"`
	At        time.Time `json:"at,omitzero"` // moved by the orchestrator, or archived
	Type      string    `json:"intent_type"`
	Priority  *int      `json:"priority"`
	Why       string    `json:"why,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Path      string    `json:"path,omitempty"`
	Error     string    `json:"verify_error,omitempty"`
	body      []byte
}

// pseudoEntry reads an intent's body into an archive.Entry so the same
// filter applies to processed and pending files.
func pseudoEntry(file string, emitted time.Time, typ string, body []byte) archive.Entry {
	e := archive.Entry{Record: archive.Record{File: file, Body: string(body)}, EmittedAt: emitted, Type: typ, Priority: -1}
	if v, err := intentfile.Parse(body); err == nil {
		if o, ok := v.(messages.Object); ok {
			if s, ok := o.Get("intent_type"); ok {
				if s, ok := s.(string); ok {
					e.Type = s
				}
			}
			if p, ok := o.Get("priority"); ok {
				if i, ok := p.(intentfile.Int); ok {
					e.Priority, _ = strconv.Atoi(string(i))
				}
			}
			if r, ok := o.Get("reason"); ok {
				e.Reason, _ = r.(string)
			}
		}
	}
	return e
}

func intPtr(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

// rows gathers the archive's entries and, unless noProcessed, the
// orchestrator's processed intents that f selects, oldest emitted first.
func (a *app) rows(f archive.Filter, intentsDir string, noProcessed bool) ([]row, []archive.Damage, error) {
	entries, damage, err := a.archive().Read(f)
	if err != nil {
		return nil, nil, err
	}
	out := make([]row, 0, len(entries))
	for _, e := range entries {
		out = append(out, row{State: "archived", Where: e.DayFile, File: e.File, EmittedAt: e.EmittedAt, At: e.ArchivedAt,
			Type: e.Type, Priority: intPtr(e.Priority), Reason: e.Reason, Path: filepath.Join(a.archive().Config().Dir, e.DayFile),
			Error: e.VerifyErr, body: []byte(e.Body)})
	}
	if !noProcessed {
		ps, err := archive.ListProcessed(intentsDir)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range ps {
			body, err := os.ReadFile(p.Path) // read-only: processed/ is the orchestrator's
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, nil, err
			}
			e := pseudoEntry(p.Original, p.EmittedAt, p.Type, body)
			if !f.Match(&e) {
				continue
			}
			r := row{State: "processed", Where: filepath.Join(archive.ProcessedDir, p.Bucket), File: p.Original,
				EmittedAt: p.EmittedAt, At: p.MovedAt, Type: e.Type, Priority: intPtr(e.Priority), Why: p.Why,
				Reason: e.Reason, Path: p.Path, body: body}
			if verr := intentfile.Verify(body); verr != nil {
				r.Error = verr.Error()
			}
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].EmittedAt.Equal(out[j].EmittedAt) {
			return out[i].EmittedAt.Before(out[j].EmittedAt)
		}
		return out[i].State < out[j].State
	})
	return out, damage, nil
}

func (a *app) printRows(rows []row, damage []archive.Damage) error {
	if a.output == "json" {
		return a.json(map[string]any{"intents": nonNil(rows), "damage": nonNil(damage)})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMITTED\tSTATE\tWHERE\tAT\tPRIO\tTYPE\tFILE")
	for _, r := range rows {
		state := r.State
		if r.Why != "" {
			state += " (" + r.Why + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(r.EmittedAt), state, r.Where, when(r.At), prio(r.Priority), orQ(r.Type), r.File)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "%d intent(s)\n", len(rows))
	for _, d := range damage {
		fmt.Fprintf(a.stderr, "damaged archive member in %s at byte %d (skipped): %s\n", d.File, d.Offset, d.Err)
	}
	return nil
}

func (a *app) archiveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "archive",
		Short: "Read the intent archive (list, show, grep), beside the orchestrator's processed intents",
	}
	var lf filterFlags
	list := &cobra.Command{
		Use:   "list [INTENTS_DIR]",
		Short: "List archived intents and the orchestrator's processed ones, oldest emitted first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := lf.filter("", a.now())
			if err != nil {
				return err
			}
			rows, dmg, err := a.rows(f, a.intentsDir(args), lf.noProcessed)
			if err != nil {
				return err
			}
			return a.printRows(rows, dmg)
		},
	}
	lf.add(list.Flags(), true)
	var gf filterFlags
	grep := &cobra.Command{
		Use:   "grep PATTERN [INTENTS_DIR]",
		Short: "List archived and processed intents whose text (or file name) matches the regular expression PATTERN",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gf.filter(args[0], a.now())
			if err != nil {
				return err
			}
			rows, dmg, err := a.rows(f, a.intentsDir(args[1:]), gf.noProcessed)
			if err != nil {
				return err
			}
			return a.printRows(rows, dmg)
		},
	}
	gf.add(grep.Flags(), true)
	show := &cobra.Command{
		Use:   "show FILE [INTENTS_DIR]",
		Short: "Show an intent's whole life by its original file name: pending, processed by the orchestrator, quarantined, archived (with its bytes)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := filepath.Base(args[0])
			dir := a.intentsDir(args[1:])
			rows, dmg, err := a.rows(archive.Filter{File: name}, dir, false)
			if err != nil {
				return err
			}
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				r := row{State: "pending", Where: dir, File: name, Path: filepath.Join(dir, name), body: b}
				e := pseudoEntry(name, time.Time{}, "", b)
				r.EmittedAt, r.Type, r.Priority, r.Reason = emittedOf(name), e.Type, intPtr(e.Priority), e.Reason
				if verr := intentfile.Verify(b); verr != nil {
					r.Error = verr.Error()
				}
				rows = append(rows, r)
			}
			q := filepath.Join(a.archive().Config().QuarantineDir, name)
			if b, err := os.ReadFile(q); err == nil {
				why, _ := os.ReadFile(q + ".reason")
				rows = append(rows, row{State: "quarantined", Where: a.archive().Config().QuarantineDir, File: name,
					EmittedAt: emittedOf(name), Path: q, Why: strings.TrimSpace(reasonLine(string(why))), body: b})
			}
			if len(rows) == 0 {
				return fmt.Errorf("%s: not in the queue %s, its processed/, the quarantine or the archive", name, dir)
			}
			if a.output == "json" {
				type withBody struct {
					row
					Body string `json:"body"`
				}
				out := make([]withBody, len(rows))
				for i, r := range rows {
					out[i] = withBody{r, string(r.body)}
				}
				return a.json(map[string]any{"file": name, "life": out, "damage": nonNil(dmg)})
			}
			for _, r := range rows {
				fmt.Fprintf(a.stdout, "== %s", r.State)
				if r.Why != "" {
					fmt.Fprintf(a.stdout, " (%s)", r.Why)
				}
				fmt.Fprintf(a.stdout, " in %s", r.Where)
				if !r.At.IsZero() {
					fmt.Fprintf(a.stdout, " at %s", when(r.At))
				}
				fmt.Fprintln(a.stdout)
				a.stdout.Write(r.body)
				fmt.Fprintln(a.stdout)
				if r.Error != "" {
					fmt.Fprintf(a.stdout, "verify: BAD: %s\n", r.Error)
				} else if r.State != "quarantined" {
					fmt.Fprintln(a.stdout, "verify: ok")
				}
			}
			return nil
		},
	}
	c.AddCommand(list, grep, show)
	return c
}

func emittedOf(name string) time.Time {
	ts, _, _, _ := intentfile.ParseName(name)
	return ts
}

func reasonLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if r, ok := strings.CutPrefix(l, "reason: "); ok {
			return r
		}
	}
	return s
}

func (a *app) replayCmd() *cobra.Command {
	var ff filterFlags
	var dryRun bool
	var grep string
	var limit int
	c := &cobra.Command{
		Use:   "replay [INTENTS_DIR]",
		Short: "Put chosen archived intents back into the queue as new, verifiable intents",
		Long: `replay writes each archived intent that the filters select back into the
queue (default <state-dir>/intents) as a new intent: same intent_type, priority
and reason; generated_at and emitted_at now; a new name; and data gains
"replayed_from": {"file", "sha256", "day_file", "archived_at", "generated_at"}
saying where it came from. No top-level key is added, so the orchestrator's
verifier accepts it. At least one of --type, --since, --file or --grep is
required; --dry-run prints what would be written.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ff.types == "" && ff.since == "" && ff.file == "" && grep == "" {
				return errors.New("replay needs at least one of --type, --since, --file or --grep (refusing to replay the whole archive)")
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must be >= 0", limit)
			}
			now := a.now()
			f, err := ff.filter(grep, now)
			if err != nil {
				return err
			}
			dir := a.intentsDir(args)
			entries, dmg, err := a.archive().Read(f)
			if err != nil {
				return err
			}
			for _, d := range dmg {
				fmt.Fprintf(a.stderr, "damaged archive member in %s at byte %d (skipped): %s\n", d.File, d.Offset, d.Err)
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[:limit]
			}
			got, err := archive.Replay(entries, dir, now, dryRun)
			if a.output == "json" {
				if jerr := a.json(map[string]any{"dir": dir, "dry_run": dryRun, "replayed": nonNil(got)}); jerr != nil {
					return jerr
				}
			} else {
				verb := map[bool]string{true: "would replay", false: "replayed"}[dryRun]
				for _, r := range got {
					fmt.Fprintf(a.stdout, "%s %s (from %s) as %s\n", verb, r.From, r.DayFile, r.Path)
				}
				fmt.Fprintf(a.stdout, "%s %d intent(s) into %s\n", verb, len(got), dir)
			}
			return err
		},
	}
	ff.add(c.Flags(), false)
	c.Flags().StringVar(&grep, "grep", "", "only intents whose text matches this regular expression")
	c.Flags().IntVar(&limit, "limit", 0, "replay at most this many (oldest first); 0: no limit")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be replayed, write nothing")
	return c
}
