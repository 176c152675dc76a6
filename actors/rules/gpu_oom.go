package rules

import (
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	Register("gpu_oom", func(n *yaml.Node) (Rule, error) {
		return newSimple(n, simple{types: []string{"gpu_oom"}, intentType: "alert_gpu_oom", priority: 9,
			build: func(ev *messages.Event) (string, messages.Object, bool) {
				data := messages.Object{{Key: "message", Value: str(ev, "message")}, {Key: "unit", Value: str(ev, "unit")},
					{Key: "suggestions", Value: []any{"Reduce the batch size or model size", "Check for leaked GPU memory in long-running processes"}}}
				return "GPU out of memory error detected", data, true
			}})
	})
}
