package deadletter

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/kloros/kloros-observer/actors"
)

// Config is the dead-letter source's section of the daemon configuration
// (deadletter: in YAML).
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
}

// DefaultConfig returns the source's defaults.
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

// Validate checks the values; every problem names the field
// (deadletter.<key>) and the value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &actors.ConfigError{Field: "deadletter." + field, Value: v, Why: why})
	}
	// "" is the default, <state_dir>/failed_signals.jsonl, set by Resolve.
	if c.File != "" && (strings.HasSuffix(c.File, "/") || filepath.Base(c.File) == "." || filepath.Base(c.File) == "..") {
		bad("file", c.File, "must name a file, not a directory")
	}
	if c.Unit == "" {
		bad("unit", `""`, "must not be empty")
	}
	if c.MaxLineBytes < 256 {
		bad("max_line_bytes", c.MaxLineBytes, "must be >= 256")
	}
	return errors.Join(errs...)
}
