package supervision

import (
	"time"

	"github.com/kloros/kloros-observer/actors/chembus"
)

// chembusSpecs declares the embedded proxy (it decides at start whether it
// is needed) and the ChemBus actor. The proxy drains last, so what we
// publish while stopping still passes through it.
func chembusSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.ChemBus.Enabled {
		return nil, nil
	}
	return []ChildSpec{
		b.Leaf("chembus_proxy", PhaseSupport, 0, "XSUB/XPUB proxy when none is bound (mode "+c.ChemBus.Proxy+")",
			chembus.NewProxy(c.ChemBus.Proxy, c.ChemBus.XSub, c.ChemBus.XPub, b.Deps)),
		b.Leaf("chembus", PhaseOutput, c.Supervision.MailboxSize, "SUB "+c.ChemBus.XPub+", PUB "+c.ChemBus.XSub,
			chembus.New(chembus.Config{
				XSub: c.ChemBus.XSub, XPub: c.ChemBus.XPub, HeartbeatInterval: c.ChemBus.HeartbeatInterval,
				Zooid: c.ChemBus.Zooid, Niche: c.ChemBus.Niche, OnKill: c.ChemBus.OnKill,
				MaxFrameBytes: c.ChemBus.MaxFrameBytes, Linger: min(2*time.Second, c.ShutdownTimeout),
				Registry: b.PID("zooids"), ProcessStart: processStart,
				Coalesce: c.ChemBus.Coalesce, Watermark: b.busWatermark(), Stop: b.Stop,
				Subscriber: c.ChemBus.Subscriber,
			}, b.Deps)),
	}, nil
}

var processStart = time.Now()
