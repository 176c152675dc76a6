//go:build chaos

package supervision

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
)

// Failure on demand, for the chaos suite only (go build -tags chaos; never
// in a normal build: chaos_off.go is the default). Every leaf actor gets a
// receiver middleware that panics on a *ChaosFail, and the HTTP endpoint
// serves POST /chaos/fail?actor=<id>&times=<n>, which sends the actor
// (its id in the tree, e.g. kloros/emitter or kloros/sources/fsnotify) n of
// them. Each is a failure like any other: the supervisor restarts the actor
// with backoff, counts it, and past its restart intensity escalates.

// ChaosEnabled reports whether this binary was built with the chaos hook.
const ChaosEnabled = true

// ChaosFail makes the actor receiving it fail (panic).
type ChaosFail struct{ N int }

func chaosOptions() []actor.PropsOption {
	return []actor.PropsOption{actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if f, ok := env.Message.(*ChaosFail); ok {
				panic(fmt.Errorf("chaos: failure on demand #%d", f.N))
			}
			next(c, env)
		}
	})}
}

func chaosHandlers(b *Builder) map[string]http.Handler {
	return map[string]http.Handler{"/chaos/fail": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		id := r.URL.Query().Get("actor")
		times, err := strconv.Atoi(r.URL.Query().Get("times"))
		if err != nil || times < 1 {
			times = 1
		}
		pid := actor.NewPID(b.System.Address(), id)
		if _, ok := b.System.ProcessRegistry.GetLocal(id); !ok || id == "" {
			http.Error(w, "no actor "+strconv.Quote(id), http.StatusNotFound)
			return
		}
		for i := range times {
			b.System.Root.Send(pid, &ChaosFail{N: i + 1})
		}
		fmt.Fprintf(w, "sent %d failures to %s\n", times, id)
	})}
}
