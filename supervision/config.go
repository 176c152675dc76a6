package supervision

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/deadletter"
	"github.com/kloros/kloros-observer/actors/dispatch"
	"github.com/kloros/kloros-observer/actors/emit"
	"github.com/kloros/kloros-observer/actors/fswatch"
	"github.com/kloros/kloros-observer/actors/heartbeat"
	"github.com/kloros/kloros-observer/actors/journald"
	"github.com/kloros/kloros-observer/actors/scrape"
	"github.com/kloros/kloros-observer/actors/systemdaudit"
	"github.com/kloros/kloros-observer/actors/web"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors"
)

// Config is the whole daemon configuration: its own few settings, and one
// section per component, each the component's own type with its defaults and
// Validate beside it. It is read from YAML (--config; unknown keys are
// errors) and then overridden by the environment and command-line flags.
// Every duration is a Go duration ("30s", "10m") or plain seconds (30).
type Config struct {
	// StateDir holds intents, events and checkpoints. Default ~/.kloros.
	StateDir string `yaml:"state_dir"`
	// IntentsDir is the orchestrator's queue. Default <state_dir>/intents.
	IntentsDir string `yaml:"intents_dir"`
	// LogLevel is debug, info, warn (warning) or error, in any case.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds the ordered drain at SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// StatsInterval is how often the stats line is logged.
	StatsInterval time.Duration `yaml:"stats_interval"`

	Supervision SupervisionConfig  `yaml:"supervision"`
	Dispatcher  dispatch.Config    `yaml:"dispatcher"`
	Emitter     emit.EmitterConfig `yaml:"emitter"`
	Spool       emit.SpoolConfig   `yaml:"spool"`
	FSWatch     fswatch.Config     `yaml:"fswatch"`
	Journald    journald.Config    `yaml:"journald"`
	Scrape      scrape.Config      `yaml:"scrape"`
	HTTP        web.HTTPConfig     `yaml:"http"`
	ChemBus     chembus.Config     `yaml:"chembus"`
	Heartbeat   heartbeat.Config   `yaml:"heartbeat"`
	Systemd     SystemdConfig      `yaml:"systemd"`
	// DeadLetter follows the intent router's dead-letter file.
	DeadLetter deadletter.Config `yaml:"deadletter"`
	// SystemdAudit reports disabled services and timers daily.
	SystemdAudit systemdaudit.Config  `yaml:"systemd_audit"`
	Rules        map[string]yaml.Node `yaml:"rules"`  // per-rule parameter overrides, checked against what each rule declares
	Checks       []scrape.Check       `yaml:"checks"` // threshold checks on scraped metrics; nil means the defaults

	// RulesFiles are rule files or directories of *.yaml (--rules); none:
	// the embedded default rule file. rules.<name> overrides their params.
	RulesFiles []string `yaml:"rules_files"`

	// lines maps each key path of the loaded file to its line, so that a
	// problem Validate finds names the line of the key.
	lines config.Lines
	// configDir is the loaded file's directory: its rules.d/ holds the rule
	// files when rules_files is not set.
	configDir string
}

// SupervisionConfig sets restart backoff and intensity for every supervisor.
type SupervisionConfig struct {
	// MaxRestarts within Window before a child is stopped and its failure escalated.
	MaxRestarts int           `yaml:"max_restarts"`
	Window      time.Duration `yaml:"window"`
	// BackoffInitial is the first restart delay; each further restart within
	// Window doubles it, up to BackoffMax, with jitter.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	BackoffMax     time.Duration `yaml:"backoff_max"`
	// MailboxSize bounds the mailboxes a source can flood (dispatcher, rules,
	// emitter, spool, watchers). What does not fit is dropped and counted.
	MailboxSize int `yaml:"mailbox_size"`
}

// Validate checks the section.
func (c *SupervisionConfig) Validate(v *config.Checker) {
	if c.MaxRestarts < 0 {
		v.Bad("max_restarts", c.MaxRestarts, "must be >= 0")
	}
	v.Positive("window", c.Window)
	v.Positive("backoff_initial", c.BackoffInitial)
	if c.BackoffMax < c.BackoffInitial {
		v.Bad("backoff_max", c.BackoffMax, "must be >= supervision.backoff_initial")
	}
	v.AtLeast("mailbox_size", c.MailboxSize, 16)
}

// SystemdConfig sets sd_notify behaviour.
type SystemdConfig struct {
	// WatchdogProbeTimeout bounds the health probe through the root actor.
	WatchdogProbeTimeout time.Duration `yaml:"watchdog_probe_timeout"`
	StatusInterval       time.Duration `yaml:"status_interval"`
}

// Validate checks the section.
func (c *SystemdConfig) Validate(v *config.Checker) {
	v.Positive("watchdog_probe_timeout", c.WatchdogProbeTimeout)
	v.Positive("status_interval", c.StatusInterval)
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	home, _ := os.UserHomeDir()
	return Config{
		StateDir:        filepath.Join(home, ".kloros"),
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 5 * time.Second,
		StatsInterval:   10 * time.Minute,
		Supervision: SupervisionConfig{
			MaxRestarts: 5, Window: 30 * time.Second,
			BackoffInitial: 100 * time.Millisecond, BackoffMax: 10 * time.Second,
			MailboxSize: 10000,
		},
		Dispatcher:   dispatch.DefaultConfig(),
		Emitter:      emit.DefaultEmitterConfig(),
		Spool:        emit.DefaultSpoolConfig(),
		FSWatch:      fswatch.DefaultConfig(),
		Journald:     journald.DefaultConfig(),
		Scrape:       scrape.DefaultConfig(),
		HTTP:         web.DefaultHTTPConfig(),
		ChemBus:      chembus.DefaultConfig(),
		Heartbeat:    heartbeat.DefaultConfig(),
		Systemd:      SystemdConfig{WatchdogProbeTimeout: 2 * time.Second, StatusInterval: 10 * time.Second},
		DeadLetter:   deadletter.DefaultConfig(),
		SystemdAudit: systemdaudit.DefaultConfig(),
	}
}

// LoadConfigFile reads a YAML config over cfg (the defaults). Every problem
// of the file — syntax, unknown keys (with the closest valid one), values
// of the wrong type — is returned at once as config.Problems, each with its
// key path and line; what could be read is applied. A path that is not a
// regular file, or is larger than config.MaxFileBytes, is refused.
func LoadConfigFile(path string, cfg *Config) error {
	b, err := config.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	lines, problems := config.Decode(b, cfg)
	cfg.lines, cfg.configDir = lines, filepath.Dir(path)
	return problems.Err()
}

// Resolve fills derived defaults (paths under the state dir, the scrape
// timeout), expands ~ and normalises the log level's case.
func (c *Config) Resolve() {
	c.StateDir = expandHome(c.StateDir)
	if c.IntentsDir == "" {
		c.IntentsDir = filepath.Join(c.StateDir, "intents")
	}
	c.IntentsDir = expandHome(c.IntentsDir)
	c.Emitter.Archive.Dir = expandHome(c.Emitter.Archive.Dir)
	c.Emitter.Archive.QuarantineDir = expandHome(c.Emitter.Archive.QuarantineDir)
	c.Emitter.Archive.Resolve(c.StateDir)
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.StateDir, "events")
	}
	c.Spool.Dir = expandHome(c.Spool.Dir)
	for i, p := range c.FSWatch.Paths {
		c.FSWatch.Paths[i] = expandHome(p)
	}
	c.Journald.Dir = expandHome(c.Journald.Dir)
	c.DeadLetter.File = expandHome(c.DeadLetter.File)
	c.DeadLetter.Resolve(c.StateDir)
	c.Scrape.Resolve()
	if len(c.RulesFiles) == 0 && c.configDir != "" {
		if st, err := os.Stat(filepath.Join(c.configDir, "rules.d")); err == nil && st.IsDir() {
			c.RulesFiles = []string{filepath.Join(c.configDir, "rules.d")}
		}
	}
	for i, f := range c.RulesFiles {
		c.RulesFiles[i] = expandHome(f)
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	if c.LogLevel == "warning" {
		c.LogLevel = "warn"
	}
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// FieldError names a configuration field and the value it was given; it is
// the same error actors raise for bad settings found at run time.
type FieldError = actors.ConfigError

// Validate checks every value, rules' settings included, and returns all
// problems at once (config.Problems), each naming its key path, the line of
// the key when it came from the file, and the value. It is exactly what the
// daemon runs at start and what --check-config runs.
func (c *Config) Validate() error {
	_, err := c.Check()
	return err
}

// Check is Validate that also returns the warnings: settings that work but
// are probably not what was meant (logged at start, printed by
// --check-config).
func (c *Config) Check() (warnings config.Problems, err error) {
	v := config.NewChecker(c.lines)
	v.OneOf("log_level", strings.ToLower(c.LogLevel), "debug", "info", "warn", "warning", "error")
	v.OneOf("log_format", c.LogFormat, "text", "json")
	v.NotEmpty("state_dir", c.StateDir)
	v.Positive("shutdown_timeout", c.ShutdownTimeout)
	v.Positive("stats_interval", c.StatsInterval)
	c.Supervision.Validate(v.At("supervision"))
	c.Dispatcher.Validate(v.At("dispatcher"))
	c.Emitter.Validate(v.At("emitter"))
	c.Emitter.Archive.ValidateLocation(v.At("emitter").At("archive"), c.IntentsDir)
	c.Spool.Validate(v.At("spool"))
	c.FSWatch.Validate(v.At("fswatch"))
	c.Journald.Validate(v.At("journald"))
	c.Scrape.Validate(v.At("scrape"))
	scrape.ValidateChecks(v.At("checks"), v.At("scrape"), c.Checks, c.Scrape.Enabled, c.Scrape.Interval)
	c.HTTP.Validate(v.At("http"))
	c.ChemBus.Validate(v.At("chembus"))
	c.Heartbeat.Validate(v.At("heartbeat"))
	c.Systemd.Validate(v.At("systemd"))
	c.DeadLetter.Validate(v.At("deadletter"))
	c.SystemdAudit.Validate(v.At("systemd_audit"))
	validateRules(v, c.RulesFiles, c.Rules)
	return v.Warnings(), v.Err()
}
