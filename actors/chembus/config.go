package chembus

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/chembus/zmtp"
	"github.com/kloros/kloros-observer/actors/config"
)

// Config is the chembus section of the daemon's configuration, and what the
// ChemBus actor runs with.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// XSub is where publishers connect (env KLR_UMN_XSUB or KLR_CHEM_XSUB).
	XSub string `yaml:"xsub"`
	// XPub is where subscribers connect (env KLR_UMN_XPUB or KLR_CHEM_XPUB).
	XPub string `yaml:"xpub"`
	// Proxy is auto (embed one when none is bound), embedded or external.
	Proxy             string        `yaml:"proxy"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"` // our own HEARTBEAT
	Zooid             string        `yaml:"zooid"`
	Niche             string        `yaml:"niche"`
	// OnKill is what governance.kill does: ignore, pause (gap publishing) or exit.
	OnKill        string `yaml:"on_kill"`
	MaxFrameBytes int    `yaml:"max_frame_bytes"`
	// Coalesce: while messages keep coming, read them off the SUB socket
	// this often (0: as each arrives); a read that found nothing makes the
	// next message wake it at once. Costs no accuracy: arrival times are
	// recovered and a watcher at its deadline has the socket read at once.
	Coalesce time.Duration `yaml:"coalesce"`
	// Subscriber is the SUB side: zmtp (our reader, the default) or libzmq
	// (libzmq's SUB socket, a fallback if our reader misreads a peer; no
	// coalescing). See subscriber.go.
	Subscriber string `yaml:"subscriber"`

	// Set by the tree.
	Linger       time.Duration `yaml:"-"` // how long queued publishes may take at stop
	Registry     *actor.PID    `yaml:"-"` // receives HeartbeatReceived and KillReceived
	ProxyActor   *actor.PID    `yaml:"-"` // the SUB side connects after it answers (nil: at once)
	ProcessStart time.Time     `yaml:"-"`
	// Watermark, shared with the registry, tells watchers when every
	// heartbeat that arrived before their deadline has been applied.
	Watermark *Watermark `yaml:"-"`
	// PingInterval, PingTimeout: an idle SUB connection is PINGed after
	// PingInterval, and dropped and reconnected when nothing answers
	// within PingTimeout (0: zmtp.DefaultPingInterval/DefaultPingTimeout).
	PingInterval time.Duration `yaml:"-"`
	PingTimeout  time.Duration `yaml:"-"`
	// Stop asks whoever runs this actor to stop the daemon in order (the
	// supervision tree's shutdown path, exit 0): what on_kill=exit calls.
	// It must not block. nil: on_kill=exit behaves as pause, and says so.
	Stop func(reason string) `yaml:"-"`
}

// DefaultConfig is the chembus section when nothing is set: the colony's
// endpoints (SPEC §1.2).
func DefaultConfig() Config {
	return Config{Enabled: true, XSub: "tcp://127.0.0.1:5558", XPub: "tcp://127.0.0.1:5559", Proxy: "auto",
		HeartbeatInterval: 10 * time.Second, Zooid: "kloros_observer", Niche: "monitoring",
		OnKill: "pause", MaxFrameBytes: 64 * 1024, Coalesce: time.Second, Subscriber: SubscriberZMTP}
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	if !strings.Contains(c.XSub, "://") {
		v.Bad("xsub", c.XSub, "must be a ZeroMQ endpoint such as tcp://127.0.0.1:5558")
	}
	if _, _, err := zmtp.Endpoint(c.XPub); err != nil { // our SUB side connects here itself
		v.Bad("xpub", c.XPub, "must be tcp://host:port or ipc://path, such as tcp://127.0.0.1:5559 ("+err.Error()+")")
	}
	v.OneOf("proxy", c.Proxy, "auto", "embedded", "external")
	v.OneOf("on_kill", c.OnKill, "ignore", "pause", "exit")
	v.OneOf("subscriber", c.Subscriber, SubscriberZMTP, SubscriberLibzmq)
	v.Positive("heartbeat_interval", c.HeartbeatInterval)
	v.NotEmpty("zooid", c.Zooid)
	v.AtLeast("max_frame_bytes", c.MaxFrameBytes, 256)
	if c.Coalesce < 0 || c.Coalesce > time.Second {
		v.Bad("coalesce", c.Coalesce, "must be between 0s and 1s")
	}
}
