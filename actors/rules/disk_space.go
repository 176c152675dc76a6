package rules

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	Register("disk_space", func(n *yaml.Node) (Rule, error) {
		return newSimple(n, simple{types: []string{"disk_space_high"}, intentType: "alert_disk_space", priority: 8,
			build: func(ev *messages.Event) (string, messages.Object, bool) {
				used, _ := number(ev, "value")
				mp := str(ev, "mountpoint")
				data := messages.Object{{Key: "mountpoint", Value: mp}, {Key: "device", Value: str(ev, "device")},
					{Key: "used_ratio", Value: used}, {Key: "threshold", Value: ev.Data["threshold"]},
					{Key: "suggestions", Value: []any{"Prune old D-REAM generations and logs", "Move artifacts off " + mp}}}
				return fmt.Sprintf("Disk space low: %s is %.0f%% used", mp, 100*used), data, true
			}})
	})
}
