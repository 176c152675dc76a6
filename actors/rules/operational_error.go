package rules

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() { Register("operational_error", newOperationalError) }

type operationalErrorConfig struct {
	Priority         int `yaml:"priority"`
	CriticalPriority int `yaml:"critical_priority"`
}

// operationalError asks the curiosity system to investigate every
// operational (priority 9) or critical (10) service error. It is never rate
// limited: the dispatcher exempts these events from dedup, and each intent
// carries the error's own evidence.
type operationalError struct{ cfg operationalErrorConfig }

func newOperationalError(node *yaml.Node) (Rule, error) {
	c := operationalErrorConfig{Priority: 9, CriticalPriority: 10}
	if err := decode(node, &c); err != nil {
		return nil, err
	}
	if err := priority("priority", c.Priority); err != nil {
		return nil, err
	}
	if err := priority("critical_priority", c.CriticalPriority); err != nil {
		return nil, err
	}
	return &operationalError{cfg: c}, nil
}

func (r *operationalError) Subscribes() []string {
	return []string{"error_operational", "error_critical"}
}
func (r *operationalError) TickEvery() time.Duration           { return 0 }
func (r *operationalError) OnTick(time.Time) []messages.Intent { return none }

func (r *operationalError) OnEvent(ev *messages.Event, now time.Time) []messages.Intent {
	prio, sev, label := r.cfg.Priority, "high", "OPERATIONAL"
	if ev.Type == "error_critical" {
		prio, sev, label = r.cfg.CriticalPriority, "critical", "CRITICAL"
	}
	evidence := []any{"Error message: " + str(ev, "message"), "Severity: " + label}
	if p, ok := number(ev, "priority"); ok {
		evidence = append(evidence, fmt.Sprintf("Journal priority: %d", int(p)))
	}
	data := messages.Object{{Key: "evidence", Value: evidence}, {Key: "priority", Value: sev}, {Key: "event_type", Value: ev.Type}}
	if u := str(ev, "unit"); u != "" {
		data = append(data, messages.KV{Key: "unit", Value: u})
	}
	if c := str(ev, "cursor"); c != "" {
		data = append(data, messages.KV{Key: "journal_cursor", Value: c}) // makes each error its own intent
	}
	return []messages.Intent{{
		Type: "curiosity_investigate", Priority: prio, GeneratedAt: now,
		Reason: fmt.Sprintf("%s SERVICE ERROR detected in %s", label, where(ev)),
		Data:   data,
	}}
}
