package rules

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() { Register("heartbeat_stall", newHeartbeatStall) }

type heartbeatStallConfig struct {
	StallAfter time.Duration `yaml:"stall_after"`
	Priority   int           `yaml:"priority"`
}

// heartbeatStall fires when NO dream_heartbeat arrived for StallAfter. The
// seed checked only when a heartbeat arrived, so it could never fire; here
// absence is found by time passing (OnTick). The deadline is armed from the
// first tick, so a D-REAM that never beats at all is reported too. It fires
// once per stall and re-arms when heartbeats return.
type heartbeatStall struct {
	cfg      heartbeatStallConfig
	lastBeat time.Time
	beaten   bool // a heartbeat was seen (else lastBeat is when we started waiting)
	stalled  bool
}

func newHeartbeatStall(node *yaml.Node) (Rule, error) {
	c := heartbeatStallConfig{StallAfter: 5 * time.Minute, Priority: 8}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if err := positive("stall_after", c.StallAfter); err != nil {
		return nil, err
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	return &heartbeatStall{cfg: c}, nil
}

func (r *heartbeatStall) Subscribes() []string { return []string{"dream_heartbeat"} }

// TickEvery checks 20 times per stall window (at most every 5 s), so a stall
// is reported at most 5% of the window late.
func (r *heartbeatStall) TickEvery() time.Duration { return min(r.cfg.StallAfter/20, 5*time.Second) }

func (r *heartbeatStall) OnEvent(_ *messages.Event, now time.Time) []messages.Intent {
	r.lastBeat, r.beaten, r.stalled = now, true, false
	return none
}

func (r *heartbeatStall) OnTick(now time.Time) []messages.Intent {
	if r.lastBeat.IsZero() {
		r.lastBeat = now
		return none
	}
	if r.stalled || now.Sub(r.lastBeat) < r.cfg.StallAfter {
		return none
	}
	r.stalled = true
	data := messages.Object{}
	if r.beaten {
		data = append(data, messages.KV{Key: "last_heartbeat", Value: epoch(r.lastBeat)})
	} else {
		data = append(data, messages.KV{Key: "last_heartbeat", Value: nil}, messages.KV{Key: "waiting_since", Value: epoch(r.lastBeat)})
	}
	data = append(data, messages.KV{Key: "stall_seconds", Value: now.Sub(r.lastBeat).Seconds()},
		messages.KV{Key: "threshold_seconds", Value: r.cfg.StallAfter.Seconds()})
	return []messages.Intent{{
		Type: "alert_heartbeat_stall", Priority: r.cfg.Priority, GeneratedAt: now,
		Reason: fmt.Sprintf("D-REAM heartbeat stalled: no ready file updates in %s", human(r.cfg.StallAfter)),
		Data:   data,
	}}
}
