package rules

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	Register("phase_failure", func(n *yaml.Node) (Rule, error) {
		return newSimple(n, simple{types: []string{"phase_error", "phase_timeout"}, intentType: "suggest_phase_diagnostic", priority: 6,
			build: func(ev *messages.Event) (string, messages.Object, bool) {
				what := "failed"
				if ev.Type == "phase_timeout" {
					what = "timed out"
				}
				data := eventFields(ev)
				data = append(data, messages.KV{Key: "suggestions", Value: []any{
					"Check the PHASE test logs for the failing suite",
					"Re-run the failed phase with verbose output",
				}})
				return fmt.Sprintf("PHASE %s (%s)", what, where(ev)), data, true
			}})
	})
}
