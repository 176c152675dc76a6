package actors

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// unhandled logs a message no case of Receive took, at debug level. The
// lifecycle and auto-answered messages every actor sees are not logged.
func unhandled(log *slog.Logger, m any) {
	switch m.(type) {
	case *actor.Stopped, *actor.Touch, *actor.PoisonPill, *actor.ReceiveTimeout:
		return
	}
	if log != nil {
		log.Debug("unhandled message", "type", typeName(m))
	}
}
