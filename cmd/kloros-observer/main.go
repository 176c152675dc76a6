// Command kloros-observer watches a KLoROS host and proposes actions to its
// orchestrator. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kloros/kloros-observer/supervision"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the tree failed at runtime (systemd restarts us)
	exitUsage  = 2 // bad flags or config
)

type options struct {
	cpuProfile  string
	configFile  string
	checkConfig string
	printTree   bool
	version     bool
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := supervision.DefaultConfig()
	preErr := preloadConfig(args, &cfg)
	var o options
	code := exitOK
	cmd := &cobra.Command{
		Use:   "kloros-observer",
		Short: "Watch a KLoROS host and propose actions to its orchestrator",
		Long: `kloros-observer watches a KLoROS host and proposes actions.

Observer: journald, file-watch (inotify) and Prometheus-scrape sources feed
rules; rules propose intents; the emitter writes each intent atomically into
the orchestrator's queue directory (default ~/.kloros/intents).

Heartbeat monitor: subscribes to HEARTBEAT on ChemBus (ZeroMQ), keeps one
watcher per zooid and publishes CAPABILITY_GAP when a zooid falls silent.

Settings come from the defaults, then --config FILE (YAML, strict), then the
environment (KLR_OBSERVER_SPOOL_EVENTS=1, KLR_CHEM_XSUB, KLR_CHEM_XPUB), then
flags. Exit status: 0 after a clean SIGINT/SIGTERM, 1 when the supervision
tree fails past its restart limits, 2 on bad flags or configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.version {
				fmt.Fprintln(stdout, "kloros-observer", supervision.Version())
				return nil
			}
			if preErr != nil {
				code = exitUsage
				return preErr
			}
			if err := finishConfig(cmd.Flags(), &cfg); err != nil {
				code = exitUsage
				return err
			}
			if o.checkConfig != "" {
				fmt.Fprintf(stdout, "%s: ok\n", o.checkConfig)
				return nil
			}
			logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				code = exitUsage
				return err
			}
			if o.printTree {
				return supervision.PrintTree(stdout, cfg, logger)
			}
			if o.cpuProfile != "" {
				pf, err := os.Create(o.cpuProfile)
				if err != nil {
					code = exitUsage
					return err
				}
				_ = pprof.StartCPUProfile(pf)
				defer func() { pprof.StopCPUProfile(); pf.Close() }()
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			logger.Info("starting kloros-observer", "version", supervision.Version(), "state_dir", cfg.StateDir, "intents_dir", cfg.IntentsDir)
			if err := supervision.Run(ctx, cfg, logger, supervision.Hooks{}); err != nil {
				code = exitFailed
				logger.Error("kloros-observer stopped on failure", "err", err)
				return nil
			}
			logger.Info("kloros-observer stopped")
			return nil
		},
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	defineFlags(cmd.Flags(), &cfg, &o)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(stderr, "kloros-observer:", err)
		if code == exitOK {
			code = exitUsage
		}
	}
	return code
}

// secondsOrDuration accepts plain seconds ("30", as the seed did) or a Go
// duration ("30s", "1m30s").
type secondsOrDuration struct{ d *time.Duration }

func (s secondsOrDuration) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}
func (s secondsOrDuration) Type() string { return "duration" }
func (s secondsOrDuration) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f <= 0 {
			return fmt.Errorf("must be positive, got %q", v)
		}
		*s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want seconds (30) or a duration (30s, 1m), got %q", v)
	}
	if d <= 0 {
		return fmt.Errorf("must be positive, got %q", v)
	}
	*s.d = d
	return nil
}

func defineFlags(f *pflag.FlagSet, c *supervision.Config, o *options) {
	f.SortFlags = false
	f.StringVar(&o.configFile, "config", "", "YAML config file (strict: unknown keys and bad values are errors)")
	f.StringVar(&o.checkConfig, "check-config", "", "validate this config file (with any flags given) and exit")
	f.BoolVar(&o.printTree, "print-tree", false, "print the supervision tree and exit")
	f.BoolVar(&o.version, "version", false, "print the version and exit")
	f.StringVar(&o.cpuProfile, "cpu-profile", "", "write a Go CPU profile to this file until exit (debugging)")
	_ = f.MarkHidden("cpu-profile")

	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	f.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	f.StringVar(&c.StateDir, "state-dir", c.StateDir, "state directory: intents, events and checkpoints live under it")
	f.StringVar(&c.IntentsDir, "intents-dir", c.IntentsDir, "orchestrator queue directory (default <state-dir>/intents)")
	f.BoolVar(&c.Spool.Enabled, "spool-events", c.Spool.Enabled, "write every raw event to <state-dir>/events (env KLR_OBSERVER_SPOOL_EVENTS=1)")
	f.Var(secondsOrDuration{&c.ShutdownTimeout}, "shutdown-timeout", "bound on the ordered drain at SIGINT/SIGTERM")
	f.Var(secondsOrDuration{&c.StatsInterval}, "stats-interval", "how often the stats line is logged")

	f.StringArrayVar(&c.Watch.Paths, "watch", c.Watch.Paths, "path to watch (repeatable; replaces the defaults)")
	f.BoolVar(&c.Watch.Enabled, "watch-enabled", c.Watch.Enabled, "run the file-watch source")

	f.StringArrayVar(&c.Journald.Units, "journal-unit", c.Journald.Units, "systemd unit to follow (repeatable; replaces the defaults)")
	f.StringVar(&c.Journald.Match, "journal-match", c.Journald.Match, "match units on _SYSTEMD_UNIT (unit) or SYSLOG_IDENTIFIER (identifier)")
	f.BoolVar(&c.Journald.Kernel, "journal-kernel", c.Journald.Kernel, "also follow the kernel transport")
	f.StringVar(&c.Journald.Dir, "journal-dir", c.Journald.Dir, "read journal files from this directory instead of the system journal")
	f.StringVar(&c.Journald.Since, "journal-since", c.Journald.Since, "with no checkpoint, start at this RFC 3339 time")
	f.BoolVar(&c.Journald.Enabled, "journald-enabled", c.Journald.Enabled, "run the journald sources")

	f.StringVar(&c.DeadLetter.File, "deadletter-file", c.DeadLetter.File, "the intent router's dead-letter file (default <state-dir>/failed_signals.jsonl)")
	f.BoolVar(&c.DeadLetter.Enabled, "deadletter-enabled", c.DeadLetter.Enabled, "follow the intent router's dead-letter file")
	f.StringVar(&c.SystemdAudit.Bus, "systemd-audit-bus", c.SystemdAudit.Bus, "D-Bus for the systemd audit: system, user, or an address (unix:path=...)")
	f.BoolVar(&c.SystemdAudit.Enabled, "systemd-audit-enabled", c.SystemdAudit.Enabled, "audit disabled services and timers daily over D-Bus")

	f.StringArrayVar(&c.Scrape.Endpoints, "metrics-endpoint", c.Scrape.Endpoints, "Prometheus endpoint to scrape (repeatable; replaces the default)")
	f.Var(secondsOrDuration{&c.Scrape.Interval}, "metrics-interval", "scrape interval: seconds (30) or a duration (30s)")
	f.BoolVar(&c.Scrape.Enabled, "scrape-enabled", c.Scrape.Enabled, "run the Prometheus scrape sources")

	f.StringVar(&c.HTTP.Listen, "http-listen", c.HTTP.Listen, "address for /metrics, /healthz and /readyz")
	f.BoolVar(&c.HTTP.Enabled, "http-enabled", c.HTTP.Enabled, "serve /metrics, /healthz and /readyz")

	f.StringVar(&c.ChemBus.XSub, "chem-xsub", c.ChemBus.XSub, "ChemBus XSUB endpoint publishers connect to (env KLR_CHEM_XSUB)")
	f.StringVar(&c.ChemBus.XPub, "chem-xpub", c.ChemBus.XPub, "ChemBus XPUB endpoint subscribers connect to (env KLR_CHEM_XPUB)")
	f.StringVar(&c.ChemBus.Proxy, "chembus-proxy", c.ChemBus.Proxy, "auto (embed a proxy if none is bound), embedded, or external")
	f.StringVar(&c.ChemBus.OnKill, "on-kill", c.ChemBus.OnKill, "on governance.kill: ignore, pause (stop publishing gaps) or exit")
	f.BoolVar(&c.ChemBus.Enabled, "chembus-enabled", c.ChemBus.Enabled, "run the ChemBus heartbeat monitor")
	f.Var(secondsOrDuration{&c.ChemBus.HeartbeatInterval}, "chem-heartbeat-interval", "how often this daemon sends its own HEARTBEAT")
	f.Var(secondsOrDuration{&c.ChemBus.Coalesce}, "chem-coalesce",
		"while heartbeats keep coming, read them off the socket this often (0: as each arrives); after a quiet read the next message is read at once; saves wake-ups, not accuracy")
	f.Var(secondsOrDuration{&c.Heartbeat.Threshold}, "heartbeat-threshold", "silence after which a zooid's CAPABILITY_GAP is published")
	f.DurationVar(&c.Heartbeat.GapRepeat, "gap-repeat", c.Heartbeat.GapRepeat, "re-publish an open gap this often (0: never)")
	f.BoolVar(&c.Heartbeat.PublishRecovery, "publish-recovery", c.Heartbeat.PublishRecovery, "publish a recovery signal when a silent zooid beats again")
}

// preloadConfig finds --config/--check-config before the real parse, so the
// file's values become the flags' defaults and flags set on the command line
// override them.
func preloadConfig(args []string, cfg *supervision.Config) error {
	pre := pflag.NewFlagSet("pre", pflag.ContinueOnError)
	pre.ParseErrorsAllowlist.UnknownFlags = true
	pre.SetOutput(io.Discard)
	pre.Usage = func() {}
	var file, check string
	pre.StringVar(&file, "config", "", "")
	pre.StringVar(&check, "check-config", "", "")
	pre.BoolP("help", "h", false, "")
	_ = pre.Parse(args) // the real parse reports flag errors
	if check != "" {
		file = check
	}
	if file == "" {
		return nil
	}
	return supervision.LoadConfigFile(file, cfg)
}

// finishConfig applies the environment (where the flag was not given),
// resolves derived paths and validates.
func finishConfig(fs *pflag.FlagSet, cfg *supervision.Config) error {
	if v, ok := os.LookupEnv("KLR_OBSERVER_SPOOL_EVENTS"); ok && !fs.Changed("spool-events") {
		cfg.Spool.Enabled = v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
	}
	if v := os.Getenv("KLR_CHEM_XSUB"); v != "" && !fs.Changed("chem-xsub") {
		cfg.ChemBus.XSub = v
	}
	if v := os.Getenv("KLR_CHEM_XPUB"); v != "" && !fs.Changed("chem-xpub") {
		cfg.ChemBus.XPub = v
	}
	cfg.Resolve()
	return cfg.Validate()
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if level == "warning" {
		level = "warn"
	}
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, errors.New("--log-format must be text or json")
}
