package actors

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

func TypeName(v any) string { return fmt.Sprintf("%T", v) }

// CountsByName renders counts as "a=3,b=1", sorted by name, for one log value.
func CountsByName(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%d", n, m[n])
	}
	return sb.String()
}

// Unhandled logs a message no case of Receive took, at debug level. The
// lifecycle and auto-answered messages every actor sees are not logged.
func Unhandled(log *slog.Logger, m any) {
	switch m.(type) {
	case *actor.Stopped, *actor.Touch, *actor.PoisonPill, *actor.ReceiveTimeout:
		return
	}
	if log != nil {
		log.Debug("unhandled message", "type", TypeName(m))
	}
}
