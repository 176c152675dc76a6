package systemdaudit

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
)

// Config is the systemd_audit section of the daemon's configuration, and
// what the source runs with.
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

	// Set by the tree.
	// StateFile holds the reported units and the last audit (StateFile(stateDir)).
	StateFile  string     `yaml:"-"`
	Dispatcher *actor.PID `yaml:"-"`
}

// DefaultExclude are the colony's exclusions (SPEC §1.4).
func DefaultExclude() []string {
	return []string{"systemd-", "getty@", "serial-getty@", "console-", "emergency", "rescue", "multi-user",
		"graphical", "reboot", "poweroff", "halt", "kexec", "ctrl-alt-del", "syslog", "dbus-", "udev",
		"plymouth", "display-manager", "autovt@", "container-", "user@", "debug-"}
}

// DefaultConfig is the systemd_audit section when nothing is set.
func DefaultConfig() Config {
	return Config{Enabled: true, Bus: "system", Interval: 24 * time.Hour,
		Types: []string{"service", "timer"}, States: []string{"disabled"}, Exclude: DefaultExclude(),
		Pace: time.Second, RetryInitial: time.Second, RetryMax: 5 * time.Minute, CallTimeout: 30 * time.Second}
}

// StateFile is where the audit remembers what it reported, under stateDir.
func StateFile(stateDir string) string {
	return filepath.Join(stateDir, "systemd_audit", "state.json")
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	switch {
	case c.Bus == "system", c.Bus == "user":
	case strings.Contains(c.Bus, ":") && !strings.HasPrefix(c.Bus, ":"):
	default:
		v.Bad("bus", c.Bus, "must be system, user or a D-Bus address such as unix:path=/run/dbus/system_bus_socket")
	}
	if c.Interval < time.Minute {
		v.Bad("interval", c.Interval, "must be at least 1m (the colony audits daily: 24h)")
	}
	if len(c.Types) == 0 {
		v.Bad("types", "[]", "must list at least one unit type, such as service")
	}
	for _, t := range c.Types {
		if t == "" || strings.ContainsAny(t, "./*?[") {
			v.Bad("types", t, "must be a unit type such as service or timer")
		}
	}
	if len(c.States) == 0 {
		v.Bad("states", "[]", "must list at least one unit file state, such as disabled")
	}
	for _, e := range c.Exclude {
		if e == "" {
			v.Bad("exclude", e, "must not hold an empty string (it would exclude every unit)")
		}
	}
	if c.Pace < time.Second {
		v.Bad("pace", c.Pace, "must be at least 1s (at most one event a second)")
	}
	v.Positive("retry_initial", c.RetryInitial)
	if c.RetryMax < c.RetryInitial {
		v.Bad("retry_max", c.RetryMax, "must be >= systemd_audit.retry_initial")
	}
	v.Positive("call_timeout", c.CallTimeout)
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
