package supervision

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/actors/emit"
	"github.com/kloros/kloros-observer/actors/scrape"

	"gopkg.in/yaml.v3"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/chembus/zmtp"
)

// Config is the whole daemon configuration. It is read from YAML (--config,
// strict: unknown keys are errors) and then overridden by command-line flags.
// Every duration is a Go duration string in YAML ("30s", "10m", "24h").
type Config struct {
	// StateDir holds intents, events and checkpoints. Default ~/.kloros.
	StateDir string `yaml:"state_dir"`
	// IntentsDir is the orchestrator's queue. Default <state_dir>/intents.
	IntentsDir string `yaml:"intents_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds the ordered drain at SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// StatsInterval is how often the stats line is logged.
	StatsInterval time.Duration `yaml:"stats_interval"`

	Supervision SupervisionConfig    `yaml:"supervision"`
	Dispatcher  DispatcherConfig     `yaml:"dispatcher"`
	Emitter     EmitterConfig        `yaml:"emitter"`
	Spool       SpoolConfig          `yaml:"spool"`
	Watch       WatchConfig          `yaml:"watch"`
	Journald    JournaldConfig       `yaml:"journald"`
	Scrape      ScrapeConfig         `yaml:"scrape"`
	HTTP        HTTPConfig           `yaml:"http"`
	ChemBus     ChemBusConfig        `yaml:"chembus"`
	Heartbeat   HeartbeatConfig      `yaml:"heartbeat"`
	Systemd     SystemdConfig        `yaml:"systemd"`
	Rules       map[string]yaml.Node `yaml:"rules"`  // per-rule settings, decoded strictly by each rule
	Checks      []ScrapeCheck        `yaml:"checks"` // threshold checks on scraped metrics; nil means the defaults
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

// DispatcherConfig sets event dedup.
type DispatcherConfig struct {
	DedupWindow time.Duration `yaml:"dedup_window"`
}

// EmitterConfig sets how intents are written.
type EmitterConfig struct {
	DedupWindow  time.Duration `yaml:"dedup_window"`
	Retention    time.Duration `yaml:"retention"`
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// MaxBatch bounds how many intents share one directory fsync.
	MaxBatch int `yaml:"max_batch"`
	// MaxQueued bounds the intents held in memory while the intents
	// directory fails; past it new intents are refused and counted
	// (kloros_observer_intents_lost_total{reason="queue_full"}).
	MaxQueued int `yaml:"max_queued"`
}

// SpoolConfig sets raw event spooling.
type SpoolConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Dir       string        `yaml:"dir"` // default <state_dir>/events
	Retention time.Duration `yaml:"retention"`
	// MaxQueued bounds the events held in memory while the events
	// directory fails; past it new events are not spooled and counted
	// (kloros_observer_spool_events_lost_total{reason="queue_full"}).
	MaxQueued int `yaml:"max_queued"`
}

// WatchConfig sets the fsnotify source.
type WatchConfig struct {
	Enabled bool     `yaml:"enabled"`
	Paths   []string `yaml:"paths"`
}

// JournaldConfig sets the journald sources.
type JournaldConfig struct {
	Enabled bool     `yaml:"enabled"`
	Units   []string `yaml:"units"`
	// Match is "unit" (_SYSTEMD_UNIT) or "identifier" (SYSLOG_IDENTIFIER).
	Match  string `yaml:"match"`
	Kernel bool   `yaml:"kernel"`
	// Dir reads journal files from a directory instead of the system journal.
	Dir string `yaml:"dir"`
	// Since is where to start with no checkpoint: "" (tail of the system
	// journal, head of Dir), or an RFC 3339 time.
	Since              string        `yaml:"since"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	MaxMessageBytes    int           `yaml:"max_message_bytes"`
}

// ScrapeConfig sets the Prometheus scrape sources.
type ScrapeConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Endpoints []string      `yaml:"endpoints"`
	Interval  time.Duration `yaml:"interval"`
	// Timeout bounds one scrape; unset (0), it is ¾ of Interval, at most
	// 10 s. It must be shorter than Interval.
	Timeout      time.Duration `yaml:"timeout"`
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
}

// ScrapeCheck is one threshold check on scraped metrics (see
// scrape.Check): metric + label matchers + how to read it + comparison →
// event type. A check fires when a series crosses the threshold and not
// again until it went back under (or renotify passed).
type ScrapeCheck struct {
	Name      string              `yaml:"name"`
	Metric    string              `yaml:"metric"`
	Labels    map[string]string   `yaml:"labels"`
	Exclude   map[string][]string `yaml:"exclude"`
	Mode      string              `yaml:"mode"`   // gauge | increase
	Window    time.Duration       `yaml:"window"` // increase mode
	Ratio     string              `yaml:"ratio"`  // divide by this metric (same labels)
	Invert    bool                `yaml:"invert"` // 1 - ratio
	Minus     string              `yaml:"minus"`  // subtract this metric (same labels)
	Op        string              `yaml:"op"`     // > >= < <= == !=
	Value     float64             `yaml:"value"`
	EventType string              `yaml:"event_type"`
	Renotify  time.Duration       `yaml:"renotify"` // 0: once per crossing
}

// HTTPConfig sets our own /metrics, /healthz and /readyz endpoint.
type HTTPConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
}

// ChemBusConfig sets the ZeroMQ ChemBus connection.
type ChemBusConfig struct {
	Enabled bool   `yaml:"enabled"`
	XSub    string `yaml:"xsub"`
	XPub    string `yaml:"xpub"`
	// Proxy is auto, embedded or external.
	Proxy             string        `yaml:"proxy"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	Zooid             string        `yaml:"zooid"`
	Niche             string        `yaml:"niche"`
	// OnKill is what governance.kill does: ignore, pause or exit.
	OnKill        string `yaml:"on_kill"`
	MaxFrameBytes int    `yaml:"max_frame_bytes"`
	// Coalesce: while messages keep coming, read them off the SUB socket
	// this often (0: as each arrives); a read that found nothing makes the
	// next message wake it at once. Costs no accuracy: arrival times are
	// recovered and a watcher at its deadline has the socket read at once.
	Coalesce time.Duration `yaml:"coalesce"`
	// Subscriber is the SUB side: zmtp (our own reader, the default) or
	// libzmq (libzmq's SUB socket: the fallback for a peer our reader
	// misreads; no coalescing). See actors/chembus/subscriber.go.
	Subscriber string `yaml:"subscriber"`
}

// HeartbeatConfig sets the heartbeat monitor.
type HeartbeatConfig struct {
	Threshold       time.Duration            `yaml:"threshold"`
	NicheThresholds map[string]time.Duration `yaml:"niche_thresholds"`
	GapRepeat       time.Duration            `yaml:"gap_repeat"`
	PublishRecovery bool                     `yaml:"publish_recovery"`
	RecoveryTopic   string                   `yaml:"recovery_topic"`
	Retention       time.Duration            `yaml:"retention"`
	MaxZooids       int                      `yaml:"max_zooids"`
	CheckpointEvery time.Duration            `yaml:"checkpoint_interval"`
}

// SystemdConfig sets sd_notify behaviour.
type SystemdConfig struct {
	// WatchdogProbeTimeout bounds the health probe through the root actor.
	WatchdogProbeTimeout time.Duration `yaml:"watchdog_probe_timeout"`
	StatusInterval       time.Duration `yaml:"status_interval"`
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	home, _ := os.UserHomeDir()
	state := filepath.Join(home, ".kloros")
	return Config{
		StateDir:        state,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 5 * time.Second,
		StatsInterval:   10 * time.Minute,
		Supervision: SupervisionConfig{
			MaxRestarts: 5, Window: 30 * time.Second,
			BackoffInitial: 100 * time.Millisecond, BackoffMax: 10 * time.Second,
			MailboxSize: 10000,
		},
		Dispatcher: DispatcherConfig{DedupWindow: 60 * time.Second},
		Emitter: EmitterConfig{
			DedupWindow: time.Hour, Retention: 24 * time.Hour,
			RetryInitial: 100 * time.Millisecond, RetryMax: 30 * time.Second, MaxBatch: 256,
			MaxQueued: emit.DefaultMaxQueued,
		},
		Spool: SpoolConfig{Retention: 7 * 24 * time.Hour, MaxQueued: emit.DefaultMaxQueued},
		Watch: WatchConfig{Enabled: true, Paths: []string{
			filepath.Join(home, "out", "promotions"),
			filepath.Join(state, "signals"),
			filepath.Join(home, "out", "dream", "ready"),
		}},
		Journald: JournaldConfig{
			Enabled: true, Units: []string{"dream.service", "kloros.service"}, Match: "unit", Kernel: true,
			CheckpointInterval: 30 * time.Second, MaxMessageBytes: 64 * 1024,
		},
		Scrape: ScrapeConfig{
			Enabled: true, Endpoints: []string{"http://localhost:9090/metrics"},
			Interval: 30 * time.Second, MaxBodyBytes: 16 << 20, // Timeout: derived from Interval by Resolve
		},
		HTTP: HTTPConfig{Enabled: true, Listen: "127.0.0.1:9464"},
		ChemBus: ChemBusConfig{
			Enabled: true, XSub: "tcp://127.0.0.1:5558", XPub: "tcp://127.0.0.1:5559", Proxy: "auto",
			HeartbeatInterval: 10 * time.Second, Zooid: "kloros_observer", Niche: "monitoring",
			OnKill: "pause", MaxFrameBytes: 64 * 1024, Coalesce: time.Second, Subscriber: chembus.DefaultSubscriber,
		},
		Heartbeat: HeartbeatConfig{
			Threshold: 30 * time.Second, RecoveryTopic: "CAPABILITY_RESTORED",
			Retention: 24 * time.Hour, MaxZooids: 100000, CheckpointEvery: 5 * time.Second,
		},
		Systemd: SystemdConfig{WatchdogProbeTimeout: 2 * time.Second, StatusInterval: 10 * time.Second},
	}
}

// LoadConfigFile reads a YAML config over the defaults. Unknown keys and bad
// values are errors naming the key (and line) and the value.
func LoadConfigFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Resolve fills derived defaults (paths under the state dir) and expands ~.
func (c *Config) Resolve() {
	c.StateDir = expandHome(c.StateDir)
	if c.IntentsDir == "" {
		c.IntentsDir = filepath.Join(c.StateDir, "intents")
	}
	c.IntentsDir = expandHome(c.IntentsDir)
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.StateDir, "events")
	}
	c.Spool.Dir = expandHome(c.Spool.Dir)
	for i, p := range c.Watch.Paths {
		c.Watch.Paths[i] = expandHome(p)
	}
	c.Journald.Dir = expandHome(c.Journald.Dir)
	if c.Scrape.Timeout == 0 && c.Scrape.Interval > 0 {
		c.Scrape.Timeout = scrape.DefaultScrapeTimeout(c.Scrape.Interval)
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

// Validate checks every value and returns all problems at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &FieldError{Field: field, Value: v, Why: why})
	}
	pos := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, d, "must be a positive duration")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("log_level", c.LogLevel, "must be one of debug, info, warn, error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", c.LogFormat, "must be text or json")
	}
	if c.StateDir == "" {
		bad("state_dir", `""`, "must not be empty")
	}
	pos("shutdown_timeout", c.ShutdownTimeout)
	pos("stats_interval", c.StatsInterval)
	if c.Supervision.MaxRestarts < 0 {
		bad("supervision.max_restarts", c.Supervision.MaxRestarts, "must be >= 0")
	}
	pos("supervision.window", c.Supervision.Window)
	pos("supervision.backoff_initial", c.Supervision.BackoffInitial)
	if c.Supervision.BackoffMax < c.Supervision.BackoffInitial {
		bad("supervision.backoff_max", c.Supervision.BackoffMax, "must be >= supervision.backoff_initial")
	}
	if c.Supervision.MailboxSize < 16 {
		bad("supervision.mailbox_size", c.Supervision.MailboxSize, "must be >= 16")
	}
	pos("dispatcher.dedup_window", c.Dispatcher.DedupWindow)
	pos("emitter.dedup_window", c.Emitter.DedupWindow)
	pos("emitter.retention", c.Emitter.Retention)
	pos("emitter.retry_initial", c.Emitter.RetryInitial)
	pos("emitter.retry_max", c.Emitter.RetryMax)
	if c.Emitter.MaxBatch < 1 {
		bad("emitter.max_batch", c.Emitter.MaxBatch, "must be >= 1")
	}
	if c.Emitter.MaxQueued < 1 {
		bad("emitter.max_queued", c.Emitter.MaxQueued, "must be >= 1")
	}
	pos("spool.retention", c.Spool.Retention)
	if c.Spool.MaxQueued < 1 {
		bad("spool.max_queued", c.Spool.MaxQueued, "must be >= 1")
	}
	for i, p := range c.Watch.Paths {
		if p == "" {
			bad(fmt.Sprintf("watch.paths[%d]", i), `""`, "must not be empty")
		}
	}
	switch c.Journald.Match {
	case "unit", "identifier":
	default:
		bad("journald.match", c.Journald.Match, "must be unit or identifier")
	}
	if c.Journald.Since != "" {
		if _, err := time.Parse(time.RFC3339, c.Journald.Since); err != nil {
			bad("journald.since", c.Journald.Since, "must be an RFC 3339 time such as 2026-11-23T04:00:00Z")
		}
	}
	pos("journald.checkpoint_interval", c.Journald.CheckpointInterval)
	if c.Journald.MaxMessageBytes < 256 {
		bad("journald.max_message_bytes", c.Journald.MaxMessageBytes, "must be >= 256")
	}
	for i, e := range c.Scrape.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("scrape.endpoints[%d]", i), e, "must be an http(s) URL such as http://localhost:9090/metrics")
		}
	}
	pos("scrape.interval", c.Scrape.Interval)
	if c.Scrape.Timeout < 0 {
		bad("scrape.timeout", c.Scrape.Timeout, "must be positive, or unset for ¾ of scrape.interval (at most 10s)")
	}
	if c.Scrape.Timeout >= c.Scrape.Interval && c.Scrape.Interval > 0 {
		bad("scrape.timeout", c.Scrape.Timeout, fmt.Sprintf("must be shorter than scrape.interval (%s)", c.Scrape.Interval))
	}
	firstNamed := map[string]int{}
	for i, ch := range c.Checks {
		f := fmt.Sprintf("checks[%d]", i)
		if ch.Name == "" {
			bad(f+".name", `""`, "must not be empty")
		} else if j, dup := firstNamed[ch.Name]; dup {
			// Names key the checker's state and the firing metric: two checks
			// sharing one would overwrite each other's.
			bad(f+".name", ch.Name, fmt.Sprintf("must be unique: checks[%d] has the same name", j))
		} else {
			firstNamed[ch.Name] = i
		}
		if ch.Metric == "" {
			bad(f+".metric", `""`, "must name a metric")
		}
		if ch.EventType == "" {
			bad(f+".event_type", `""`, "must name the event type to emit")
		}
		switch ch.Op {
		case ">", ">=", "<", "<=", "==", "!=":
		default:
			bad(f+".op", ch.Op, "must be one of > >= < <= == !=")
		}
		switch ch.Mode {
		case "", "gauge":
		case "increase":
			pos(f+".window", ch.Window)
			// An increase needs two samples inside the window; with scrape
			// jitter that takes a window of at least two intervals.
			if ch.Window > 0 && c.Scrape.Interval > 0 && ch.Window < 2*c.Scrape.Interval {
				bad(f+".window", ch.Window, fmt.Sprintf("must be at least 2 × scrape.interval (%s) = %s: an increase needs two samples inside the window",
					c.Scrape.Interval, 2*c.Scrape.Interval))
			}
		default:
			bad(f+".mode", ch.Mode, "must be gauge or increase")
		}
		if ch.Invert && ch.Ratio == "" {
			bad(f+".invert", true, "needs ratio")
		}
	}
	if c.Checks == nil && c.Scrape.Enabled && c.Scrape.Interval > 0 {
		for _, ch := range scrape.DefaultChecks() {
			if ch.Mode == "increase" && ch.Window < 2*c.Scrape.Interval {
				bad("scrape.interval", c.Scrape.Interval, fmt.Sprintf("must be at most half the window (%s) of the default check %s, or set checks: with a longer window",
					ch.Window, ch.Name))
			}
		}
	}
	if c.Scrape.MaxBodyBytes < 1024 {
		bad("scrape.max_body_bytes", c.Scrape.MaxBodyBytes, "must be >= 1024")
	}
	if c.HTTP.Enabled {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", c.HTTP.Listen, "must be host:port such as 127.0.0.1:9464")
		}
	}
	if !strings.Contains(c.ChemBus.XSub, "://") {
		bad("chembus.xsub", c.ChemBus.XSub, "must be a ZeroMQ endpoint such as tcp://127.0.0.1:5558")
	}
	if _, _, err := zmtp.Endpoint(c.ChemBus.XPub); err != nil { // our SUB side connects here itself
		bad("chembus.xpub", c.ChemBus.XPub, "must be tcp://host:port or ipc://path, such as tcp://127.0.0.1:5559 ("+err.Error()+")")
	}
	switch c.ChemBus.Proxy {
	case "auto", "embedded", "external":
	default:
		bad("chembus.proxy", c.ChemBus.Proxy, "must be auto, embedded or external")
	}
	if err := chembus.ValidateSubscriber(c.ChemBus.Subscriber); err != nil {
		bad("chembus.subscriber", c.ChemBus.Subscriber, "must be zmtp or libzmq")
	}
	switch c.ChemBus.OnKill {
	case "ignore", "pause", "exit":
	default:
		bad("chembus.on_kill", c.ChemBus.OnKill, "must be ignore, pause or exit")
	}
	pos("chembus.heartbeat_interval", c.ChemBus.HeartbeatInterval)
	if c.ChemBus.Zooid == "" {
		bad("chembus.zooid", `""`, "must not be empty")
	}
	if c.ChemBus.MaxFrameBytes < 256 {
		bad("chembus.max_frame_bytes", c.ChemBus.MaxFrameBytes, "must be >= 256")
	}
	if c.ChemBus.Coalesce < 0 || c.ChemBus.Coalesce > time.Second {
		bad("chembus.coalesce", c.ChemBus.Coalesce, "must be between 0s and 1s")
	}
	pos("heartbeat.threshold", c.Heartbeat.Threshold)
	for n, d := range c.Heartbeat.NicheThresholds {
		pos("heartbeat.niche_thresholds."+n, d)
	}
	if c.Heartbeat.GapRepeat < 0 {
		bad("heartbeat.gap_repeat", c.Heartbeat.GapRepeat, "must be >= 0 (0 disables repeats)")
	}
	if c.Heartbeat.RecoveryTopic == "" {
		bad("heartbeat.recovery_topic", `""`, "must not be empty")
	}
	pos("heartbeat.retention", c.Heartbeat.Retention)
	if c.Heartbeat.MaxZooids < 1 {
		bad("heartbeat.max_zooids", c.Heartbeat.MaxZooids, "must be >= 1")
	}
	pos("heartbeat.checkpoint_interval", c.Heartbeat.CheckpointEvery)
	pos("systemd.watchdog_probe_timeout", c.Systemd.WatchdogProbeTimeout)
	pos("systemd.status_interval", c.Systemd.StatusInterval)
	return errors.Join(errs...)
}
