package heartbeat

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
)

// Config is the heartbeat section of the daemon's configuration, and what
// the registry runs with.
type Config struct {
	// Threshold is the silence after which a zooid's CAPABILITY_GAP is
	// published; NicheThresholds override it per niche.
	Threshold       time.Duration            `yaml:"threshold"`
	NicheThresholds map[string]time.Duration `yaml:"niche_thresholds"`
	// PeerInterval is how often zooids beat: the colony sends HEARTBEAT
	// every 10 s (SPEC §1.2). A threshold below it would report every zooid
	// silent between two beats, so it is refused; below two intervals one
	// late beat is a gap, so it is warned about.
	PeerInterval    time.Duration `yaml:"peer_interval"`
	GapRepeat       time.Duration `yaml:"gap_repeat"` // 0: one CAPABILITY_GAP per episode
	PublishRecovery bool          `yaml:"publish_recovery"`
	RecoveryTopic   string        `yaml:"recovery_topic"`
	Retention       time.Duration `yaml:"retention"` // forget zooids silent longer than this
	MaxZooids       int           `yaml:"max_zooids"`
	CheckpointEvery time.Duration `yaml:"checkpoint_interval"`

	// Set by the tree.
	StateFile  string        `yaml:"-"`
	OnKill     string        `yaml:"-"` // chembus.on_kill
	ChemBus    *actor.PID    `yaml:"-"`
	ProbeEvery time.Duration `yaml:"-"` // lag probe period (0: 1 s)
	// WatcherMailbox makes each watcher's mailbox (nil: protoactor's default).
	WatcherMailbox actor.MailboxProducer `yaml:"-"`
	// Watermark, shared with the ChemBus actor, lets watchers wait for
	// heartbeats still in our own pipeline (nil: none in front of us).
	Watermark Pipeline `yaml:"-"`
	// Silences, if set, holds back CAPABILITY_GAP for the zooids they
	// match: the episode opens (and is logged and observed, Published
	// false) but is announced only if still open when no silence covers it.
	Silences *silence.Store `yaml:"-"`
	// View, if set, is where the registry publishes its zooids for readers
	// outside the actor system (the web API).
	View *View `yaml:"-"`
}

// DefaultConfig is the heartbeat section when nothing is set.
func DefaultConfig() Config {
	return Config{Threshold: 30 * time.Second, PeerInterval: 10 * time.Second, RecoveryTopic: "CAPABILITY_RESTORED",
		Retention: 24 * time.Hour, MaxZooids: 100000, CheckpointEvery: 5 * time.Second}
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	v.Positive("peer_interval", c.PeerInterval)
	c.threshold(v, "threshold", c.Threshold)
	for n, d := range c.NicheThresholds {
		c.threshold(v, "niche_thresholds."+n, d)
	}
	v.NonNegative("gap_repeat", c.GapRepeat, "disables repeats")
	v.NotEmpty("recovery_topic", c.RecoveryTopic)
	v.Positive("retention", c.Retention)
	v.AtLeast("max_zooids", c.MaxZooids, 1)
	v.Positive("checkpoint_interval", c.CheckpointEvery)
}

func (c *Config) threshold(v *config.Checker, field string, d time.Duration) {
	switch {
	case d <= 0:
		v.Bad(field, d, "must be a positive duration")
	case c.PeerInterval > 0 && d < c.PeerInterval:
		v.Bad(field, d, fmt.Sprintf("must be at least heartbeat.peer_interval (%s): zooids beat every %s, so a shorter silence is normal and every zooid would flap silent/recovered between two beats",
			c.PeerInterval, c.PeerInterval))
	case c.PeerInterval > 0 && d < 2*c.PeerInterval:
		v.Warn(field, d, fmt.Sprintf("is under two heartbeat intervals (%s): one late or lost heartbeat will be reported as a gap", 2*c.PeerInterval))
	}
}
