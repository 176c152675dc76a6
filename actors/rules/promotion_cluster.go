package rules

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() { Register("promotion_cluster", newPromotionCluster) }

type promotionClusterConfig struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	Cooldown  time.Duration `yaml:"cooldown"`
	Priority  int           `yaml:"priority"`
}

// promotionCluster fires when Threshold promotions land within Window: many
// promotions at once mean D-REAM converged on good candidates, so a PHASE run
// is worth scheduling. It then stays quiet for Cooldown.
type promotionCluster struct {
	cfg       promotionClusterConfig
	seen      []promotion
	lastFired time.Time
}

// maxRemembered bounds the promotions kept in the window (and listed in the
// intent), so a flood of promotions during the cooldown costs nothing.
const maxRemembered = 100

type promotion struct {
	at   time.Time
	path string
}

func newPromotionCluster(node *yaml.Node) (Rule, error) {
	c := promotionClusterConfig{Threshold: 3, Window: 10 * time.Minute, Cooldown: time.Hour, Priority: 7}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if c.Threshold < 1 {
		return nil, fmt.Errorf("threshold = %d: must be >= 1", c.Threshold)
	}
	if err := positive("window", c.Window); err != nil {
		return nil, err
	}
	if c.Cooldown < 0 {
		return nil, fmt.Errorf("cooldown = %s: must be >= 0", c.Cooldown)
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	return &promotionCluster{cfg: c}, nil
}

func (r *promotionCluster) Subscribes() []string     { return []string{"promotion_new"} }
func (r *promotionCluster) TickEvery() time.Duration { return 0 }
func (r *promotionCluster) OnTick(time.Time) []messages.Intent {
	return none
}

func (r *promotionCluster) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	keep := r.seen[:0]
	for _, p := range r.seen {
		if now.Sub(p.at) < r.cfg.Window {
			keep = append(keep, p)
		}
	}
	r.seen = append(keep, promotion{at: now, path: str(ev, "path")})
	if len(r.seen) > maxRemembered { // a flood during the cooldown: keep the newest
		r.seen = append(r.seen[:0], r.seen[len(r.seen)-maxRemembered:]...)
	}
	if len(r.seen) < r.cfg.Threshold {
		return none
	}
	if !r.lastFired.IsZero() && now.Sub(r.lastFired) < r.cfg.Cooldown {
		return none
	}
	r.lastFired = now
	files := make([]any, 0, len(r.seen))
	for _, p := range r.seen {
		if p.path != "" {
			files = append(files, p.path)
		}
	}
	n := len(r.seen)
	r.seen = r.seen[:0]
	return []messages.Intent{{
		Type: "trigger_phase_promotion_cluster", Priority: r.cfg.Priority, GeneratedAt: now,
		Reason: fmt.Sprintf("Promotion cluster detected: %d promotions in %s", n, human(r.cfg.Window)),
		Data:   messages.Object{{Key: "promotion_count", Value: n}, {Key: "promotion_files", Value: files}},
	}}
}

// human writes a duration as the seed did ("10 minutes", "2 hours").
func human(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
