package fswatch

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
)

// Config is the fswatch section of the daemon's configuration.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Paths to watch: directories, or files (their directory is watched).
	// A path that does not exist yet is picked up when it appears.
	Paths []string `yaml:"paths"`

	Dispatcher *actor.PID `yaml:"-"` // set by the tree
}

// DefaultConfig watches the promotions directory, the PHASE signals
// directory and the D-REAM ready file (SPEC §2.1).
func DefaultConfig() Config {
	home, _ := os.UserHomeDir()
	return Config{Enabled: true, Paths: []string{
		filepath.Join(home, "out", "promotions"),
		filepath.Join(home, ".kloros", "signals"),
		filepath.Join(home, "out", "dream", "ready"),
	}}
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	for i, p := range c.Paths {
		if p == "" {
			v.Bad(fmt.Sprintf("paths[%d]", i), "", "must not be empty")
		}
	}
}
