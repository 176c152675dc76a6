package deadletter

import (
	"path/filepath"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
)

// Config is the deadletter section of the daemon's configuration, and what
// the source runs with.
type Config struct {
	// Enabled runs the source.
	Enabled bool `yaml:"enabled"`
	// File is the intent router's dead-letter file. Empty: Resolve sets
	// <state_dir>/failed_signals.jsonl, where the colony's router writes.
	File string `yaml:"file"`
	// Unit is the unit named in the events (the dead letters' writer).
	Unit string `yaml:"unit"`
	// MaxLineBytes bounds how much of one line is kept to read its error;
	// a longer line still counts as one dead letter.
	MaxLineBytes int `yaml:"max_line_bytes"`

	// Set by the tree.
	// CheckpointFile holds the position of the last line whose event is
	// durable (CheckpointFile(stateDir)).
	CheckpointFile string     `yaml:"-"`
	Dispatcher     *actor.PID `yaml:"-"`
}

// DefaultConfig is the deadletter section when nothing is set.
func DefaultConfig() Config {
	return Config{Enabled: true, Unit: "kloros-intent-router.service", MaxLineBytes: 64 << 10}
}

// Resolve fills the file's default under stateDir.
func (c *Config) Resolve(stateDir string) {
	if c.File == "" {
		c.File = filepath.Join(stateDir, "failed_signals.jsonl")
	}
}

// CheckpointFile is where the source keeps its position, under stateDir.
func CheckpointFile(stateDir string) string {
	return filepath.Join(stateDir, "deadletter", "position.json")
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	// "" is the default, <state_dir>/failed_signals.jsonl, set by Resolve.
	if c.File != "" && (strings.HasSuffix(c.File, "/") || filepath.Base(c.File) == "." || filepath.Base(c.File) == "..") {
		v.Bad("file", c.File, "must name a file, not a directory")
	}
	v.NotEmpty("unit", c.Unit)
	v.AtLeast("max_line_bytes", c.MaxLineBytes, 256)
}
