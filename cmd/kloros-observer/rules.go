package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/kloros/kloros-observer/actors/rules"
	"github.com/kloros/kloros-observer/messages"
)

// newRulesCommand is `kloros-observer rules`: the offline tools over rule
// files (check, test, replay, default). A problem sets *code to 1.
func newRulesCommand(stdout, stderr io.Writer, code *int) *cobra.Command {
	root := &cobra.Command{
		Use:   "rules",
		Short: "Check, test and replay rule files offline",
		Long: `Offline tools over rule files (see README, "Rules as data").

  rules check FILE|DIR...   load and check every rule; exit 1 naming every problem
  rules test FILE...        run promtool-style rule test files; exit 1 if any case fails
  rules replay              run rules over recorded events and print the intents (writes nothing)
  rules default             print the embedded default rule file`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	fail := func(err error) error {
		*code = exitFailed
		return err
	}
	root.AddCommand(&cobra.Command{
		Use:   "check FILE|DIR...",
		Short: "Load and check rule files; exit 1 naming every problem",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			set, err := rules.Load(args, nil)
			if err != nil {
				var le *rules.LoadError
				if errors.As(err, &le) {
					for _, p := range le.Problems {
						fmt.Fprintln(stdout, p)
					}
					return fail(fmt.Errorf("rules check: %d problem(s)", len(le.Problems)))
				}
				return fail(err)
			}
			fmt.Fprintf(stdout, "ok: %d rules (%v)\n", len(set.Rules()), set.Names())
			return nil
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "test FILE...",
		Short: "Run rule test files (input events with times → expected intents with times)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			failed := 0
			for _, f := range args {
				n, err := rules.RunTestFile(f, stdout)
				if err != nil {
					return fail(err)
				}
				failed += n
			}
			if failed > 0 {
				return fail(fmt.Errorf("rules test: %d case(s) failed", failed))
			}
			fmt.Fprintln(stdout, "ok")
			return nil
		},
	})
	var (
		ruleFiles            []string
		eventsDir, journal   string
		sinceFlag, untilFlag string
	)
	replay := &cobra.Command{
		Use:   "replay --events DIR | --journal-dir DIR",
		Short: "Run rules over recorded events on their own timestamps; print the intents, write nothing",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if (eventsDir == "") == (journal == "") {
				*code = exitUsage
				return errors.New("rules replay: give exactly one of --events DIR or --journal-dir DIR")
			}
			since, err := parseTime(sinceFlag)
			if err != nil {
				*code = exitUsage
				return fmt.Errorf("--since: %w", err)
			}
			until, err := parseTime(untilFlag)
			if err != nil {
				*code = exitUsage
				return fmt.Errorf("--until: %w", err)
			}
			set, err := rules.Load(ruleFiles, nil)
			if err != nil {
				return fail(err)
			}
			var evs []*messages.Event
			if eventsDir != "" {
				var skipped int
				evs, skipped, err = rules.ReadSpool(eventsDir)
				if skipped > 0 {
					fmt.Fprintf(stderr, "rules replay: skipped %d unreadable event files\n", skipped)
				}
			} else {
				evs, err = readJournalDir(journal, since, until)
			}
			if err != nil {
				return fail(err)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			n, err := rules.Replay(set, evs, since, until, stdout, log)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stderr, "rules replay: %d events, %d intents\n", len(evs), n)
			return nil
		},
	}
	replay.Flags().StringArrayVar(&ruleFiles, "rules", nil, "rule file or directory (repeatable; default: the embedded default file)")
	replay.Flags().StringVar(&eventsDir, "events", "", "spooled events directory (~/.kloros/events)")
	replay.Flags().StringVar(&journal, "journal-dir", "", "journal directory (like journalctl -D), classified as the journald sources do")
	replay.Flags().StringVar(&sinceFlag, "since", "", "only events at or after this RFC 3339 time")
	replay.Flags().StringVar(&untilFlag, "until", "", "only events before this RFC 3339 time; time runs on to it")
	root.AddCommand(replay)
	root.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print the embedded default rule file (to install under /etc/kloros/rules.d)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			_, err := stdout.Write(rules.DefaultFile)
			return err
		},
	})
	return root
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}
