package messages

import "time"

// Tick tells a timer-driven rule what time it is. Rules with windows or
// absence detection (heartbeat stall) act on Tick, never on the arrival of an
// event alone.
//
// Sent by: the rule actor's own scheduler (or a test). Received by: rules.
type Tick struct {
	Now time.Time
}
