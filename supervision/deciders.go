package supervision

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
)

// Decide maps a failure to a directive: a bad configuration cannot be fixed by
// restarting, so the actor is stopped and the failure reported; everything
// else (I/O errors, unknown panics) is restarted with backoff.
func Decide(reason any) actor.Directive {
	if actors.IsConfigError(reason) {
		return actor.StopDirective
	}
	return actor.RestartDirective
}
