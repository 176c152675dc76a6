package rules

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/messages"
)

func init() {
	Register("dream_error", func(n *yaml.Node) (Rule, error) {
		return newSimple(n, simple{types: []string{"dream_error"}, intentType: "suggest_dream_diagnostic", priority: 5,
			build: func(ev *messages.Event) (string, messages.Object, bool) {
				return fmt.Sprintf("D-REAM error detected in %s", where(ev)), eventFields(ev), true
			}})
	})
}
