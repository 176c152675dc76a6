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
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/cmd/internal/cli"
	"github.com/kloros/kloros-observer/supervision"
	"github.com/kloros/kloros-observer/supervision/buildinfo"
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
environment (KLR_OBSERVER_SPOOL_EVENTS=1, KLR_UMN_XSUB/KLR_UMN_XPUB or the older
KLR_CHEM_XSUB/KLR_CHEM_XPUB), then
flags. Exit status: 0 after a clean SIGINT/SIGTERM, 1 when the supervision
tree fails past its restart limits, 2 on bad flags or configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.version {
				fmt.Fprint(stdout, buildinfo.Print("kloros-observer"))
				return nil
			}
			notes, warnings, err := finishConfig(cmd.Flags(), &cfg)
			if err := joinProblems(preErr, err); err != nil {
				code = exitUsage
				return fmt.Errorf("configuration: %w", err)
			}
			if o.checkConfig != "" {
				for _, w := range warnings {
					fmt.Fprintf(stdout, "warning: %s\n", w)
				}
				fmt.Fprintf(stdout, "%s: ok\n", o.checkConfig)
				return nil
			}
			logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				code = exitUsage
				return err
			}
			for _, n := range notes {
				logger.Info("chembus endpoint from the environment", "detail", n)
			}
			for _, w := range warnings {
				logger.Warn("configuration warning", "setting", w.Path, "value", fmt.Sprint(w.Value), "why", w.Why)
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
			if err := supervision.Run(ctx, cfg, logger, supervision.Hooks{Reload: reloadOnHUP(ctx, args, logger)}); err != nil {
				code = exitFailed
				var ce *actors.ConfigError
				if errors.As(err, &ce) {
					code = exitUsage // restarting cannot fix it
				}
				logger.Error("kloros-observer stopped on failure", "err", err, "exit_status", code)
				return nil
			}
			logger.Info("kloros-observer stopped")
			return nil
		},
	}
	cmd.AddCommand(operatorCommands(&cfg, stdout, &code)...) // operator.go: tap, status, silence
	cmd.SetArgs(args)
	cli.AddDocs(cmd) // hidden __gendocs: man page and completions for make install
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	defineFlags(cmd.Flags(), &cfg, &o)
	cmd.AddCommand(newRulesCommand(stdout, stderr, &code))
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(stderr, "kloros-observer:", err)
		if code == exitOK {
			code = exitUsage
		}
	}
	return code
}

// dur is a flag taking plain seconds ("30", as the seed did) or a Go
// duration ("30s", "1m30s").
func dur(d *time.Duration) config.DurationFlag { return config.DurationFlag{D: d} }

func defineFlags(f *pflag.FlagSet, c *supervision.Config, o *options) {
	f.SortFlags = false
	f.StringVar(&o.configFile, "config", "", "YAML config file (strict: unknown keys and bad values are errors)")
	f.StringVar(&o.checkConfig, "check-config", "", "validate this config file (with any flags given) and exit")
	f.BoolVar(&o.printTree, "print-tree", false, "print the supervision tree and exit")
	f.BoolVar(&o.version, "version", false, "print the version and exit")
	f.StringVar(&o.cpuProfile, "cpu-profile", "", "write a Go CPU profile to this file until exit (debugging)")
	_ = f.MarkHidden("cpu-profile")

	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn (warning) or error, in any case (INFO works)")
	f.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	f.StringVar(&c.StateDir, "state-dir", c.StateDir, "state directory: intents, events and checkpoints live under it")
	f.StringVar(&c.IntentsDir, "intents-dir", c.IntentsDir, "orchestrator queue directory (default <state-dir>/intents)")
	f.BoolVar(&c.Spool.Enabled, "spool-events", c.Spool.Enabled, "write every raw event to <state-dir>/events (env KLR_OBSERVER_SPOOL_EVENTS=1)")
	f.Var(dur(&c.ShutdownTimeout), "shutdown-timeout", "bound on the ordered drain at SIGINT/SIGTERM")
	f.Var(dur(&c.StatsInterval), "stats-interval", "how often the stats line is logged")

	f.StringArrayVar(&c.RulesFiles, "rules", c.RulesFiles, "rule file or directory of *.yaml (repeatable; default: the embedded default rules)")
	f.StringArrayVar(&c.FSWatch.Paths, "fswatch-path", c.FSWatch.Paths, "path the file-watch source watches (repeatable; replaces the defaults)")
	f.BoolVar(&c.FSWatch.Enabled, "fswatch-enabled", c.FSWatch.Enabled, "run the file-watch (inotify) source")
	// The names before the file-watch source had one name everywhere.
	f.StringArrayVar(&c.FSWatch.Paths, "watch", c.FSWatch.Paths, "")
	f.BoolVar(&c.FSWatch.Enabled, "watch-enabled", c.FSWatch.Enabled, "")
	_ = f.MarkDeprecated("watch", "use --fswatch-path")
	_ = f.MarkDeprecated("watch-enabled", "use --fswatch-enabled")

	f.StringArrayVar(&c.Journald.Units, "journal-unit", c.Journald.Units, "systemd unit to follow (repeatable; replaces the defaults)")
	f.StringVar(&c.Journald.Match, "journal-match", c.Journald.Match, "match units on _SYSTEMD_UNIT (unit) or SYSLOG_IDENTIFIER (identifier)")
	f.BoolVar(&c.Journald.Kernel, "journal-kernel", c.Journald.Kernel, "also follow the kernel transport")
	f.BoolVar(&c.Journald.Systemd, "journal-systemd", c.Journald.Systemd, "also follow systemd's own messages about the units (restarts; unit match only)")
	f.StringVar(&c.Journald.Dir, "journal-dir", c.Journald.Dir, "read journal files from this directory instead of the system journal")
	f.StringVar(&c.Journald.Since, "journal-since", c.Journald.Since, "with no checkpoint, start at this RFC 3339 time")
	f.BoolVar(&c.Journald.Enabled, "journald-enabled", c.Journald.Enabled, "run the journald sources")

	f.StringVar(&c.DeadLetter.File, "deadletter-file", c.DeadLetter.File, "the intent router's dead-letter file (default <state-dir>/failed_signals.jsonl)")
	f.BoolVar(&c.DeadLetter.Enabled, "deadletter-enabled", c.DeadLetter.Enabled, "follow the intent router's dead-letter file")
	f.StringVar(&c.SystemdAudit.Bus, "systemd-audit-bus", c.SystemdAudit.Bus, "D-Bus for the systemd audit: system, user, or an address (unix:path=...)")
	f.BoolVar(&c.SystemdAudit.Enabled, "systemd-audit-enabled", c.SystemdAudit.Enabled, "audit disabled services and timers daily over D-Bus")

	f.StringArrayVar(&c.Scrape.Endpoints, "metrics-endpoint", c.Scrape.Endpoints, "Prometheus endpoint to scrape (repeatable; replaces the default)")
	f.Var(dur(&c.Scrape.Interval), "metrics-interval", "scrape interval: seconds (30) or a duration (30s)")
	f.BoolVar(&c.Scrape.Enabled, "scrape-enabled", c.Scrape.Enabled, "run the Prometheus scrape sources")

	f.StringVar(&c.HTTP.Listen, "http-listen", c.HTTP.Listen, "address for the dashboard, /api/v1, /metrics, /healthz and /readyz")
	f.BoolVar(&c.HTTP.Enabled, "http-enabled", c.HTTP.Enabled, "serve the dashboard, /api/v1, /metrics, /healthz and /readyz")
	f.StringVar(&c.HTTP.WebConfigFile, "web.config.file", c.HTTP.WebConfigFile,
		"Prometheus exporter-toolkit web config (TLS, basic auth); needed for writes on a non-loopback --http-listen")

	f.StringVar(&c.ChemBus.XSub, "chem-xsub", c.ChemBus.XSub, "ChemBus (UMN) XSUB endpoint publishers connect to (env KLR_UMN_XSUB, else KLR_CHEM_XSUB)")
	f.StringVar(&c.ChemBus.XPub, "chem-xpub", c.ChemBus.XPub, "ChemBus (UMN) XPUB endpoint subscribers connect to (env KLR_UMN_XPUB, else KLR_CHEM_XPUB)")
	f.StringVar(&c.ChemBus.Proxy, "chembus-proxy", c.ChemBus.Proxy, "auto (embed a proxy if none is bound), embedded, or external")
	f.StringVar(&c.ChemBus.Subscriber, "chembus-subscriber", c.ChemBus.Subscriber, "the SUB side: zmtp (our reader) or libzmq (libzmq's SUB socket, a fallback)")
	f.StringVar(&c.ChemBus.OnKill, "on-kill", c.ChemBus.OnKill, "on governance.kill: ignore, pause (stop publishing gaps) or exit")
	f.BoolVar(&c.ChemBus.Enabled, "chembus-enabled", c.ChemBus.Enabled, "run the ChemBus heartbeat monitor")
	f.Var(dur(&c.ChemBus.HeartbeatInterval), "chem-heartbeat-interval", "how often this daemon sends its own HEARTBEAT")
	f.Var(config.DurationFlag{D: &c.ChemBus.Coalesce, AllowZero: true}, "chem-coalesce",
		"while heartbeats keep coming, read them off the socket this often (0: as each arrives); after a quiet read the next message is read at once; saves wake-ups, not accuracy")
	f.Var(dur(&c.Heartbeat.Threshold), "heartbeat-threshold", "silence after which a zooid's CAPABILITY_GAP is published")
	f.Var(config.DurationFlag{D: &c.Heartbeat.GapRepeat, AllowZero: true}, "gap-repeat", "re-publish an open gap this often (0: never)")
	f.Var(dur(&c.Heartbeat.PeerInterval), "heartbeat-peer-interval", "how often zooids beat (the colony: 10s); a threshold below it is refused")
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
// resolves derived paths and validates. notes say which environment
// variables were used (logged once the logger exists).
func finishConfig(fs *pflag.FlagSet, cfg *supervision.Config) (notes []string, warnings config.Problems, err error) {
	if v, ok := os.LookupEnv("KLR_OBSERVER_SPOOL_EVENTS"); ok && !fs.Changed("spool-events") {
		cfg.Spool.Enabled = v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
	}
	// The colony renamed ChemBus to UMN (SPEC §1.3): its KLR_UMN_* variables
	// win over the older KLR_CHEM_* when both are set; a flag wins over both.
	for _, e := range []struct {
		flag      string
		umn, chem string
		into      *string
	}{
		{"chem-xsub", "KLR_UMN_XSUB", "KLR_CHEM_XSUB", &cfg.ChemBus.XSub},
		{"chem-xpub", "KLR_UMN_XPUB", "KLR_CHEM_XPUB", &cfg.ChemBus.XPub},
	} {
		umn, chem := os.Getenv(e.umn), os.Getenv(e.chem)
		switch {
		case fs.Changed(e.flag):
			if umn != "" || chem != "" {
				notes = append(notes, fmt.Sprintf("--%s=%s given: %s/%s ignored", e.flag, *e.into, e.umn, e.chem))
			}
		case umn != "":
			*e.into = umn
			if chem != "" && chem != umn {
				notes = append(notes, fmt.Sprintf("%s=%s used; %s=%s ignored (the UMN name wins)", e.umn, umn, e.chem, chem))
			} else {
				notes = append(notes, fmt.Sprintf("%s=%s used", e.umn, umn))
			}
		case chem != "":
			*e.into = chem
			notes = append(notes, fmt.Sprintf("%s=%s used", e.chem, chem))
		}
	}
	cfg.Resolve()
	warnings, err = cfg.Check()
	return notes, warnings, err
}

// joinProblems reports the file's problems and the validation's together.
func joinProblems(errs ...error) error {
	var all config.Problems
	for _, err := range errs {
		var ps config.Problems
		switch {
		case err == nil:
		case errors.As(err, &ps):
			all = append(all, ps...)
		default:
			return err // the file could not be read: nothing else is worth saying
		}
	}
	return all.Err()
}

// reloadOnHUP re-reads the configuration — the file, then the environment
// and the same command line — on each SIGHUP (systemctl reload). A valid one
// is handed to the tree (which reloads the rules and names the settings that
// need a restart) and its log level applied; an invalid one is logged with
// every problem and the running configuration stays. Without this, SIGHUP's
// default action ended the daemon.
func reloadOnHUP(ctx context.Context, args []string, logger *slog.Logger) <-chan supervision.Reread {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan supervision.Reread, 1)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			logger.Info("SIGHUP: re-reading the configuration and the rules")
			cfg, warnings, err := rereadConfig(args)
			if err != nil {
				select {
				case out <- supervision.Reread{Err: err}:
				case <-ctx.Done():
					return
				}
				continue
			}
			for _, w := range warnings {
				logger.Warn("configuration warning", "setting", w.Path, "value", fmt.Sprint(w.Value), "why", w.Why)
			}
			if l, err := parseLevel(cfg.LogLevel); err == nil && l != logLevel.Level() {
				logger.Info("SIGHUP: log level changed", "from", logLevel.Level().String(), "to", l.String())
				logLevel.Set(l)
			}
			select {
			case out <- supervision.Reread{Config: cfg}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// rereadConfig builds the configuration as at start, from the same args.
func rereadConfig(args []string) (supervision.Config, config.Problems, error) {
	cfg := supervision.DefaultConfig()
	preErr := preloadConfig(args, &cfg)
	fs := pflag.NewFlagSet("reload", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	defineFlags(fs, &cfg, &o)
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	_, warnings, err := finishConfig(fs, &cfg)
	return cfg, warnings, joinProblems(preErr, err)
}

// logLevel is the daemon's level; a SIGHUP that re-reads log_level sets it.
var logLevel slog.LevelVar

func parseLevel(level string) (slog.Level, error) {
	var l slog.Level
	if level = strings.ToLower(level); level == "warning" {
		level = "warn"
	}
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return 0, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	logLevel.Set(l)
	opts := &slog.HandlerOptions{Level: &logLevel}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, errors.New("--log-format must be text or json")
}
