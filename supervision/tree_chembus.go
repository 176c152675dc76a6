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
	cc := c.ChemBus
	cc.Linger, cc.Registry, cc.ProcessStart, cc.Watermark = min(2*time.Second, c.ShutdownTimeout), b.PID("zooids"), processStart, b.busWatermark()
	cc.ProxyActor, cc.Stop = b.PID("chembus_proxy"), b.Stop
	return []ChildSpec{
		b.Leaf("chembus_proxy", PhaseSupport, 0, "XSUB/XPUB proxy when none is bound (mode "+c.ChemBus.Proxy+")",
			chembus.NewProxy(c.ChemBus.Proxy, c.ChemBus.XSub, c.ChemBus.XPub, b.Deps)),
		b.Leaf("chembus", PhaseOutput, c.Supervision.MailboxSize, "SUB "+c.ChemBus.XPub+", PUB "+c.ChemBus.XSub,
			chembus.New(cc, b.Deps)),
	}, nil
}

var processStart = time.Now()
