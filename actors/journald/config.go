package journald

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/journald/classify"
)

// Config is the journald section of the daemon's configuration, and what
// one journald source runs with: the daemon runs one Source for the units,
// one for systemd's own messages about them (with Match "unit"), and, with
// Kernel, one for the kernel transport, from the same section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Units to follow, matched on _SYSTEMD_UNIT, or SYSLOG_IDENTIFIER with
	// Match "identifier".
	Units []string `yaml:"units"`
	Match string   `yaml:"match"`
	// Kernel also runs a source on the kernel transport (_TRANSPORT=kernel).
	Kernel bool `yaml:"kernel"`
	// Systemd also runs a source on what systemd itself says about the
	// units (restarts, failed results: PID 1's UNIT=, a user manager's
	// USER_UNIT=); unit match only.
	Systemd bool `yaml:"systemd"`
	// Dir reads journal files from a directory instead of the system journal.
	Dir string `yaml:"dir"`
	// Since is where to start with no checkpoint: "" (the tail of the system
	// journal, the head of Dir) or an RFC 3339 time.
	Since              string        `yaml:"since"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	MaxMessageBytes    int           `yaml:"max_message_bytes"`

	// Set by the tree for each source.
	Name       string `yaml:"-"` // "units" or "kernel": the metrics label and checkpoint name
	ReadKernel bool   `yaml:"-"` // this source reads the kernel transport
	// ReadManager: this source reads what systemd itself logs about Units
	// (PID 1 from init.scope with UNIT=, a user manager with USER_UNIT=).
	ReadManager bool       `yaml:"-"`
	Start       time.Time  `yaml:"-"` // Since, parsed
	Dispatcher  *actor.PID `yaml:"-"`
	// CheckpointFile holds the cursor of the last entry whose event (and
	// intents) are durable.
	CheckpointFile string `yaml:"-"`
}

// DefaultConfig is the journald section when nothing is set: the colony's
// 15 units (SPEC §1.4) and the kernel.
func DefaultConfig() Config {
	return Config{Enabled: true, Units: classify.DefaultUnits(), Match: "unit", Kernel: true, Systemd: true,
		CheckpointInterval: 30 * time.Second, MaxMessageBytes: 64 * 1024}
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	v.OneOf("match", c.Match, "unit", "identifier")
	if c.Since != "" {
		if _, err := time.Parse(time.RFC3339, c.Since); err != nil {
			v.Bad("since", c.Since, "must be an RFC 3339 time such as 2026-11-23T04:00:00Z")
		}
	}
	v.Positive("checkpoint_interval", c.CheckpointInterval)
	v.AtLeast("max_message_bytes", c.MaxMessageBytes, 256)
	for i, u := range c.Units {
		if u == "" {
			v.Bad(fmt.Sprintf("units[%d]", i), "", "must not be empty")
		}
	}
}
