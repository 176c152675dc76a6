package emit

import (
	"time"

	"github.com/kloros/kloros-observer/actors/archive"
	"github.com/kloros/kloros-observer/actors/config"
)

// EmitterConfig is the emitter section of the daemon's configuration: how
// intents are written.
type EmitterConfig struct {
	DedupWindow  time.Duration `yaml:"dedup_window"` // identical intents within it are written once
	Retention    time.Duration `yaml:"retention"`    // intents older than this (by name) are archived
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	MaxBatch     int           `yaml:"max_batch"` // intents sharing one directory fsync
	// MaxQueued bounds the intents accepted and not yet durable (waiting in
	// memory, in the writer's channel or in its hands) while the directory
	// fails; past it new intents are refused
	// and counted (intents_lost_total{reason="queue_full"}). 0: 100000.
	MaxQueued int `yaml:"max_queued"`
	// Archive receives intents past Retention (and its quarantine those that
	// fail verification): nothing is deleted. Empty paths: archive/ and
	// quarantine/ beside Dir (the supervisor sets them under state_dir).
	Archive archive.Config `yaml:"archive"`

	Dir          string        `yaml:"-"` // the intents directory (top-level intents_dir)
	PruneEvery   time.Duration `yaml:"-"` // 0: Retention/24, at most 10 min
	DrainTimeout time.Duration `yaml:"-"` // bound on finishing queued writes at stop (0: 5 s)
	Health       *Health       `yaml:"-"` // where the writer reports failing/ok, for /readyz (nil: nowhere)
	// DedupFile is where the dedup is checkpointed (see dedup.go); "":
	// in memory only. Set by supervision to <state_dir>/emitter/dedup.json.
	DedupFile string `yaml:"-"`
	// DedupSaveEvery debounces the checkpoint (0: 1 s).
	DedupSaveEvery time.Duration `yaml:"-"`
}

// DefaultMaxQueued is the default of MaxQueued for intents and events:
// each is a few hundred bytes, so holding this many costs tens of MB at most.
const DefaultMaxQueued = 100000

// DefaultEmitterConfig is the emitter section when nothing is set.
func DefaultEmitterConfig() EmitterConfig {
	return EmitterConfig{DedupWindow: time.Hour, Retention: 24 * time.Hour,
		RetryInitial: 100 * time.Millisecond, RetryMax: 30 * time.Second, MaxBatch: 256, MaxQueued: DefaultMaxQueued,
		Archive: archive.Config{Retention: archive.DefaultRetention, MaxBytes: archive.DefaultMaxBytes}}
}

// Validate checks the section.
func (c *EmitterConfig) Validate(v *config.Checker) {
	v.Positive("dedup_window", c.DedupWindow)
	v.Positive("retention", c.Retention)
	v.Positive("retry_initial", c.RetryInitial)
	v.Positive("retry_max", c.RetryMax)
	if c.RetryMax < c.RetryInitial {
		v.Bad("retry_max", c.RetryMax, "must be >= retry_initial")
	}
	v.AtLeast("max_batch", c.MaxBatch, 1)
	v.AtLeast("max_queued", c.MaxQueued, 1)
	c.Archive.Validate(v.At("archive"))
}

// SpoolConfig is the spool section of the daemon's configuration: raw event
// spooling.
type SpoolConfig struct {
	Enabled   bool          `yaml:"enabled"`
	Dir       string        `yaml:"dir"` // "" = <state_dir>/events
	Retention time.Duration `yaml:"retention"`
	// MaxQueued bounds the events accepted and not yet durable (in memory, the writer's
	// channel or its hands) while the directory fails; past it new events are not spooled
	// and counted (spool_events_lost_total{reason="queue_full"}). 0: 100000.
	MaxQueued int `yaml:"max_queued"`

	// The writer's settings, the emitter's (set by the tree).
	RetryInitial time.Duration `yaml:"-"`
	RetryMax     time.Duration `yaml:"-"`
	MaxBatch     int           `yaml:"-"`
	DrainTimeout time.Duration `yaml:"-"` // bound on finishing queued writes at stop (0: 5 s)
}

// DefaultSpoolConfig is the spool section when nothing is set (off; events
// kept 7 days when on).
func DefaultSpoolConfig() SpoolConfig {
	return SpoolConfig{Retention: 7 * 24 * time.Hour, MaxQueued: DefaultMaxQueued}
}

// Validate checks the section.
func (c *SpoolConfig) Validate(v *config.Checker) {
	v.Positive("retention", c.Retention)
	v.AtLeast("max_queued", c.MaxQueued, 1)
}
