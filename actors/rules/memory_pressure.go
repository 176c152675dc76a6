package rules

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	Register("memory_pressure", func(n *yaml.Node) (Rule, error) {
		return newSimple(n, simple{types: []string{"memory_pressure"}, intentType: "alert_memory_pressure", priority: 8,
			build: func(ev *messages.Event) (string, messages.Object, bool) {
				v, _ := number(ev, "value")
				check := str(ev, "check")
				reason := fmt.Sprintf("Memory pressure: %.0f%% of memory in use", 100*v)
				if check == "swap_used" {
					reason = fmt.Sprintf("Memory pressure: %.0f MiB of swap in use", v/(1<<20))
				}
				data := messages.Object{{Key: "check", Value: check}, {Key: "metric", Value: str(ev, "metric")},
					{Key: "value", Value: v}, {Key: "threshold", Value: ev.Data["threshold"]}}
				return reason, data, true
			}})
	})
}
