package actors

import (
	"errors"
	"fmt"
)

// ConfigError is a failure that restarting cannot fix (a bad setting). The
// supervisor's decider stops the actor and reports it instead of restarting it.
type ConfigError struct {
	Field string
	Value any
	Why   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config: %s = %v: %s", e.Field, e.Value, e.Why)
}

// IsConfigError reports whether reason (a panic value) is a ConfigError.
func IsConfigError(reason any) bool {
	err, ok := reason.(error)
	if !ok {
		return false
	}
	var ce *ConfigError
	return errors.As(err, &ce)
}

// GoroutineFailed is sent to an actor by a goroutine it owns when that
// goroutine fails (returns an error it cannot handle, or panics). The actor
// panics with Err in Receive, so its supervisor sees the failure: panics are
// recovered only in protoactor's mailbox loop, never in other goroutines.
type GoroutineFailed struct {
	Err error
}

// Recover is deferred at the top of every goroutine an actor starts. It turns
// a panic into a GoroutineFailed handed to report (which sends it to the
// actor).
func Recover(what string, report func(*GoroutineFailed)) {
	if r := recover(); r != nil {
		err, ok := r.(error)
		if !ok {
			err = fmt.Errorf("%v", r)
		}
		report(&GoroutineFailed{Err: fmt.Errorf("%s goroutine panicked: %w", what, err)})
	}
}
