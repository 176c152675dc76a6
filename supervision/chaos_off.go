//go:build !chaos

package supervision

import (
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
)

// ChaosEnabled reports whether this binary was built with the chaos hook
// (chaos_on.go, go build -tags chaos). In a normal build there is none: no
// middleware, no endpoint.
const ChaosEnabled = false

func chaosOptions() []actor.PropsOption { return nil }

func chaosHandlers(*Builder) map[string]http.Handler { return nil }
