package supervision

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/scrape"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "observer.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.Resolve()
	require.NoError(t, c.Validate())
	require.Equal(t, filepath.Join(c.StateDir, "intents"), c.IntentsDir)
	require.Equal(t, filepath.Join(c.StateDir, "events"), c.Spool.Dir)
}

func TestLoadConfigFileOverridesDefaults(t *testing.T) {
	c := DefaultConfig()
	p := writeFile(t, "state_dir: /srv/kloros\nemitter:\n  retention: 3h\nheartbeat:\n  threshold: 45s\n  niche_thresholds:\n    slow: 2m\nchembus:\n  subscriber: libzmq\n")
	require.NoError(t, LoadConfigFile(p, &c))
	c.Resolve()
	require.NoError(t, c.Validate())
	require.Equal(t, "/srv/kloros/intents", c.IntentsDir)
	require.Equal(t, 3*time.Hour, c.Emitter.Retention)
	require.Equal(t, time.Hour, c.Emitter.DedupWindow, "unset keys keep their defaults")
	require.Equal(t, 2*time.Minute, c.Heartbeat.NicheThresholds["slow"])
	require.Equal(t, "libzmq", c.ChemBus.Subscriber)
	require.Equal(t, "zmtp", DefaultConfig().ChemBus.Subscriber)
}

func TestLoadConfigFileEmptyKeepsDefaults(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, LoadConfigFile(writeFile(t, ""), &c))
	require.Equal(t, DefaultConfig().Heartbeat, c.Heartbeat)
}

func TestLoadConfigFileStrict(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown top key":    {"bogus: 1\n", "bogus (line 1): unknown key; valid keys here: "},
		"unknown nested key": {"emitter:\n  retentoin: 3h\n", `emitter.retentoin (line 2): unknown key; did you mean "retention"?`},
		"misspelt top key":   {"log_levle: info\n", `log_levle (line 1): unknown key; did you mean "log_level"?`},
		"old watch key":      {"watch:\n  enabled: false\n", `watch (line 1): unknown key; did you mean "fswatch"?`},
		"bad duration":       {"emitter:\n  retention: banana\n", "emitter.retention (line 2) = banana: must be a duration such as 30s"},
		"wrong type":         {"supervision:\n  max_restarts: lots\n", "supervision.max_restarts (line 2) = lots: must be a whole number"},
		"not a mapping":      {"emitter: 3\n", "emitter (line 1): emitter must be a mapping"},
		"syntax":             {"emitter:\n  retention: [\n", "(file)"},
		"set twice":          {"log_level: info\nlog_level: debug\n", "log_level (line 2): set twice (first on line 1)"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			err := LoadConfigFile(writeFile(t, tc.body), &c)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	c := DefaultConfig()
	err := LoadConfigFile(filepath.Join(t.TempDir(), "absent.yaml"), &c)
	require.ErrorContains(t, err, "no such file")
}

func TestValidateNamesFieldAndValue(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"log level":     {func(c *Config) { c.LogLevel = "loud" }, "log_level = loud"},
		"endpoint":      {func(c *Config) { c.Scrape.Endpoints = []string{"ftp://x"} }, "scrape.endpoints[0] = ftp://x"},
		"timeout":       {func(c *Config) { c.Scrape.Timeout = time.Minute }, "scrape.timeout = 1m0s: must be shorter than scrape.interval"},
		"proxy":         {func(c *Config) { c.ChemBus.Proxy = "maybe" }, "chembus.proxy = maybe"},
		"coalesce":      {func(c *Config) { c.ChemBus.Coalesce = 2 * time.Second }, "chembus.coalesce = 2s: must be between 0s and 1s"},
		"on kill":       {func(c *Config) { c.ChemBus.OnKill = "panic" }, "chembus.on_kill = panic"},
		"subscriber":    {func(c *Config) { c.ChemBus.Subscriber = "zmq" }, "chembus.subscriber = zmq: must be one of zmtp or libzmq"},
		"threshold":     {func(c *Config) { c.Heartbeat.Threshold = 0 }, "heartbeat.threshold = 0s"},
		"niche":         {func(c *Config) { c.Heartbeat.NicheThresholds = map[string]time.Duration{"x": -1} }, "heartbeat.niche_thresholds.x"},
		"journal since": {func(c *Config) { c.Journald.Since = "yesterday" }, "journald.since = yesterday"},
		"xsub":          {func(c *Config) { c.ChemBus.XSub = "localhost" }, "chembus.xsub = localhost"},
		"xpub inproc":   {func(c *Config) { c.ChemBus.XPub = "inproc://bus" }, "chembus.xpub = inproc://bus"},
		"xpub wildcard": {func(c *Config) { c.ChemBus.XPub = "tcp://*:5559" }, "chembus.xpub = tcp://*:5559"},
		"http listen":   {func(c *Config) { c.HTTP.Listen = "nowhere" }, "http.listen = nowhere"},
		"backoff":       {func(c *Config) { c.Supervision.BackoffMax = time.Millisecond }, "supervision.backoff_max"},
		"mailbox":       {func(c *Config) { c.Supervision.MailboxSize = 1 }, "supervision.mailbox_size = 1"},
		"max queued":    {func(c *Config) { c.Emitter.MaxQueued = 0 }, "emitter.max_queued = 0: must be >= 1"},
		"arch retain":   {func(c *Config) { c.Emitter.Archive.Retention = 0 }, "emitter.archive.retention = 0s: must be a positive duration"},
		"arch in queue": {func(c *Config) { c.IntentsDir = "/q"; c.Emitter.Archive.Dir = "/q/processed/a" }, "emitter.archive.dir = /q/processed/a: must not be inside the intents directory"},
		"check name": {func(c *Config) {
			c.Checks = []scrape.Check{{Name: "disk", Metric: "a", Op: ">", EventType: "e"}, {Name: "disk", Metric: "b", Op: ">", EventType: "e"}}
		}, "checks[1].name = disk: must be unique: checks[0] has the same name"},
		"increase window": {func(c *Config) {
			c.Checks = []scrape.Check{{Name: "lc", Metric: "c_total", Mode: "increase", Window: 45 * time.Second, Op: ">", EventType: "e"}}
		}, "checks[0].window = 45s: must be at least 2 × scrape.interval (30s) = 1m0s"},
		"default window": {func(c *Config) { c.Scrape.Interval, c.Scrape.Timeout = 6*time.Minute, 10*time.Second },
			"scrape.interval = 6m0s: must be at most half the window (10m0s) of the default check lock_contention"},
		"spool queued": {func(c *Config) { c.Spool.MaxQueued = -3 }, "spool.max_queued = -3: must be >= 1"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mut(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestLoadConfigRejectsBadChecks goes through the file, as --config and
// --check-config do.
func TestLoadConfigRejectsBadChecks(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, LoadConfigFile(writeFile(t, `scrape:
  interval: 30s
checks:
  - {name: disk, metric: node_filesystem_avail_bytes, op: "<", value: 1, event_type: disk_low}
  - {name: lock, metric: c_total, mode: increase, window: 59s, op: ">", value: 10, event_type: lock_high}
  - {name: disk, metric: node_filesystem_free_bytes, op: "<", value: 1, event_type: disk_low}
  - {name: lock2, metric: c_total, mode: increase, window: 1m, op: ">", value: 10, event_type: lock_high}
`), &c))
	c.Resolve()
	err := c.Validate()
	require.ErrorContains(t, err, "checks[2].name (line 6) = disk: must be unique: checks[0] has the same name")
	require.ErrorContains(t, err, "checks[1].window (line 5) = 59s: must be at least 2 × scrape.interval (30s) = 1m0s")
	require.Contains(t, err.Error(), "2 problems:", "a window of exactly two intervals is accepted: %v", err)
	require.Contains(t, err.Error(), "checks[1].window (line 5) = 59s", "the line of the key")
}

// TestScrapeTimeoutFollowsTheInterval: with no timeout configured it is ¾ of
// the interval, at most 10 s, so a short --metrics-interval alone is valid
// (a fixed 10 s default rejected --metrics-interval 5). A timeout that is set
// must still be shorter than the interval.
func TestScrapeTimeoutFollowsTheInterval(t *testing.T) {
	for interval, want := range map[time.Duration]time.Duration{
		5 * time.Second: 3750 * time.Millisecond, 8 * time.Second: 6 * time.Second, 30 * time.Second: 10 * time.Second, time.Hour: 10 * time.Second,
	} {
		c := DefaultConfig()
		c.Scrape.Interval = interval
		c.Checks = []scrape.Check{}
		c.Resolve()
		require.NoError(t, c.Validate(), interval)
		require.Equal(t, want, c.Scrape.Timeout, interval)
	}
	c := DefaultConfig()
	require.NoError(t, LoadConfigFile(writeFile(t, "scrape:\n  interval: 5s\n  timeout: 4s\n"), &c))
	c.Resolve()
	require.NoError(t, c.Validate())
	require.Equal(t, 4*time.Second, c.Scrape.Timeout, "a timeout that is set is kept")
	require.NoError(t, LoadConfigFile(writeFile(t, "scrape:\n  timeout: 5s\n"), &c))
	c.Resolve()
	require.ErrorContains(t, c.Validate(), "scrape.timeout (line 2) = 5s: must be shorter than scrape.interval (5s)")
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := DefaultConfig()
	c.LogLevel, c.ChemBus.Proxy = "loud", "maybe"
	err := c.Validate()
	require.Error(t, err)
	require.Contains(t, err.Error(), "2 problems:")
}

// Plain seconds are durations everywhere: the seed's command line and
// configs wrote "30".
func TestDurationsAcceptSeconds(t *testing.T) {
	c := DefaultConfig()
	require.NoError(t, LoadConfigFile(writeFile(t, "heartbeat:\n  threshold: 45\n  gap_repeat: 0\n  niche_thresholds: {slow: 90.5}\nemitter:\n  retention: \"3600\"\n"), &c))
	require.Equal(t, 45*time.Second, c.Heartbeat.Threshold)
	require.Equal(t, time.Duration(0), c.Heartbeat.GapRepeat)
	require.Equal(t, 90500*time.Millisecond, c.Heartbeat.NicheThresholds["slow"])
	require.Equal(t, time.Hour, c.Emitter.Retention)
}

// YAML problems and semantic ones come out together, in file order, each
// with its key path, line and value.
func TestFileAndValidationProblemsTogether(t *testing.T) {
	c := DefaultConfig()
	ferr := LoadConfigFile(writeFile(t, "log_level: loud\nheartbeat:\n  threshold: 5s\n  niche_thresholds:\n    gpu: 1ms\nrules:\n  promotion_cluster: {window: ten minutes}\n  promotoin_cluster: {}\nchembus:\n  zooid: \"\"\n  proxy: sometimes\nemitter: {retentoin: 1h}\n"), &c)
	require.Error(t, ferr)
	c.Resolve()
	_, verr := c.Check()
	var ps config.Problems
	require.ErrorAs(t, verr, &ps)
	all := append(ferr.(config.Problems), ps...)
	msg := all.Err().Error()
	for _, want := range []string{
		"log_level (line 1) = loud: must be one of debug, info, warn, warning or error",
		"heartbeat.threshold (line 3) = 5s: must be at least heartbeat.peer_interval (10s)",
		"heartbeat.niche_thresholds.gpu (line 5) = 1ms: must be at least heartbeat.peer_interval",
		`rules.promotion_cluster (line 7): window (line 7) = "ten minutes": must be a duration`,
		`rules.promotoin_cluster (line 8): unknown key; did you mean "promotion_cluster"?`,
		`chembus.zooid (line 10) = "": must not be empty`,
		"chembus.proxy (line 11) = sometimes: must be one of auto, embedded or external",
		`emitter.retentoin (line 12): unknown key; did you mean "retention"?`,
	} {
		require.Contains(t, msg, want)
	}
	require.Less(t, strings.Index(msg, "line 1)"), strings.Index(msg, "line 12)"), "in file order")
}

func TestThresholdUnderTwoIntervalsWarns(t *testing.T) {
	c := DefaultConfig()
	c.Heartbeat.Threshold = 15 * time.Second
	c.Resolve()
	warnings, err := c.Check()
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0].Error(), "heartbeat.threshold = 15s: is under two heartbeat intervals (20s)")
	c.Heartbeat.PeerInterval = time.Second // a test colony beating every second
	c.Heartbeat.Threshold = 3 * time.Second
	warnings, err = c.Check()
	require.NoError(t, err)
	require.Empty(t, warnings)
}

func TestLogLevelAnyCase(t *testing.T) {
	for _, lvl := range []string{"INFO", "Warning", "WARN", "debug", "ERROR"} {
		c := DefaultConfig()
		c.LogLevel = lvl
		c.Resolve()
		require.NoError(t, c.Validate(), lvl)
	}
}

// A config path that is not a regular file, or is huge, is refused at once
// (--check-config /dev/zero once read without limit).
func TestConfigFileBounds(t *testing.T) {
	c := DefaultConfig()
	require.ErrorContains(t, LoadConfigFile("/dev/zero", &c), "not a regular file")
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, make([]byte, config.MaxFileBytes+1), 0o600))
	require.ErrorContains(t, LoadConfigFile(big, &c), "larger than 4 MiB")
}

func TestResolveExpandsHome(t *testing.T) {
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	c := DefaultConfig()
	c.StateDir = "~/state"
	c.FSWatch.Paths = []string{"~/w"}
	c.Resolve()
	require.Equal(t, filepath.Join(home, "state"), c.StateDir)
	require.Equal(t, filepath.Join(home, "w"), c.FSWatch.Paths[0])
}

// journald.systemd turns the source of systemd's own messages off (and it
// only exists in unit match mode).
func TestJournaldSystemdSwitch(t *testing.T) {
	tree := func(mut func(*Config)) string {
		c := DefaultConfig()
		c.StateDir = t.TempDir()
		mut(&c)
		c.Resolve()
		require.NoError(t, c.Validate())
		var sb strings.Builder
		require.NoError(t, PrintTree(&sb, c, slog.New(slog.DiscardHandler)))
		return sb.String()
	}
	require.Contains(t, tree(func(*Config) {}), "journald_systemd")
	require.NotContains(t, tree(func(c *Config) { c.Journald.Systemd = false }), "journald_systemd")
	require.NotContains(t, tree(func(c *Config) { c.Journald.Match = "identifier" }), "journald_systemd")
}
