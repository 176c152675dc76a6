// Package messages holds the data that flows between kloros-observer's actors.
//
// It is data only and imports nothing of this module. Each type's comment names
// who sends it and who receives it. Messages are sent as pointers and never
// mutated after they are sent. Events are named in the past tense
// (HeartbeatReceived), commands as imperatives (EmitIntent), request/response
// pairs as XRequest/XResponse.
package messages
