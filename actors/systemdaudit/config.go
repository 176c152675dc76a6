package systemdaudit

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors"
)

// Config is the audit's section of the daemon configuration
// (systemd_audit: in YAML).
type Config struct {
	// Enabled runs the audit.
	Enabled bool `yaml:"enabled"`
	// Bus is "system" (the system bus, where systemd answers), "user" (the
	// session bus of a user manager) or a D-Bus address such as
	// unix:path=/run/dbus/system_bus_socket.
	Bus string `yaml:"bus"`
	// Interval between audits (the colony: daily).
	Interval time.Duration `yaml:"interval"`
	// Types of unit audited: the unit name suffixes.
	Types []string `yaml:"types"`
	// States reported (unit file states, as systemctl list-unit-files
	// shows them).
	States []string `yaml:"states"`
	// Exclude: a unit whose name contains any of these is not reported
	// (system units). Set, it replaces the defaults.
	Exclude []string `yaml:"exclude"`
	// Pace is the least time between two events (at most one a second).
	Pace time.Duration `yaml:"pace"`
	// RetryInitial and RetryMax bound the backoff while the bus is missing.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// CallTimeout bounds one D-Bus call.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// DefaultExclude are the colony's exclusions (SPEC §1.4).
func DefaultExclude() []string {
	return []string{"systemd-", "getty@", "serial-getty@", "console-", "emergency", "rescue", "multi-user",
		"graphical", "reboot", "poweroff", "halt", "kexec", "ctrl-alt-del", "syslog", "dbus-", "udev",
		"plymouth", "display-manager", "autovt@", "container-", "user@", "debug-"}
}

// DefaultConfig returns the audit's defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, Bus: "system", Interval: 24 * time.Hour,
		Types: []string{"service", "timer"}, States: []string{"disabled"}, Exclude: DefaultExclude(),
		Pace: time.Second, RetryInitial: time.Second, RetryMax: 5 * time.Minute, CallTimeout: 30 * time.Second}
}

// StateFile is where the audit remembers what it reported, under stateDir.
func StateFile(stateDir string) string {
	return filepath.Join(stateDir, "systemd_audit", "state.json")
}

// Validate checks the values; every problem names the field
// (systemd_audit.<key>) and the value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &actors.ConfigError{Field: "systemd_audit." + field, Value: v, Why: why})
	}
	switch {
	case c.Bus == "system", c.Bus == "user":
	case strings.Contains(c.Bus, ":") && !strings.HasPrefix(c.Bus, ":"):
	default:
		bad("bus", c.Bus, "must be system, user or a D-Bus address such as unix:path=/run/dbus/system_bus_socket")
	}
	if c.Interval < time.Minute {
		bad("interval", c.Interval, "must be at least 1m (the colony audits daily: 24h)")
	}
	if len(c.Types) == 0 {
		bad("types", "[]", "must list at least one unit type, such as service")
	}
	for _, t := range c.Types {
		if t == "" || strings.ContainsAny(t, "./*?[") {
			bad("types", t, "must be a unit type such as service or timer")
		}
	}
	if len(c.States) == 0 {
		bad("states", "[]", "must list at least one unit file state, such as disabled")
	}
	for _, e := range c.Exclude {
		if e == "" {
			bad("exclude", `""`, "must not hold an empty string (it would exclude every unit)")
		}
	}
	if c.Pace < time.Second {
		bad("pace", c.Pace, "must be at least 1s (at most one event a second)")
	}
	if c.RetryInitial <= 0 {
		bad("retry_initial", c.RetryInitial, "must be a positive duration")
	}
	if c.RetryMax < c.RetryInitial {
		bad("retry_max", c.RetryMax, "must be >= systemd_audit.retry_initial")
	}
	if c.CallTimeout <= 0 {
		bad("call_timeout", c.CallTimeout, "must be a positive duration")
	}
	return errors.Join(errs...)
}

// excluded reports whether unit is a system unit the audit skips.
func (c *Config) excluded(unit string) bool {
	for _, e := range c.Exclude {
		if strings.Contains(unit, e) {
			return true
		}
	}
	return false
}
