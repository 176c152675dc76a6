package messages

import "github.com/asynkron/protoactor-go/actor"

// ReloadRules asks the rules manager to load the rule set again and swap it
// in: rules whose definition did not change keep their actors and state.
// Sent by: supervision (SIGHUP, systemctl reload), the HTTP actor (POST
// /-/reload) and the manager itself (a rule file changed). Received by: the
// rules manager, which answers ReloadRulesResult to the sender.
type ReloadRules struct {
	Reason string
	// Files replaces the rule files when SetFiles (nil with SetFiles: the
	// embedded default); Overrides replaces the rules.<name> settings when
	// SetOverrides. Otherwise the running ones are kept.
	Files        []string
	SetFiles     bool
	Overrides    map[string]any
	SetOverrides bool
}

// ReloadRulesResult answers ReloadRules.
type ReloadRulesResult struct {
	OK bool
	// Err says why the new set was refused (the old one keeps running).
	Err                           string
	Kept, Changed, Added, Removed []string
}

// RoutesChanged gives the dispatcher a new rule set's routes. Sent by: the
// rules manager after a reload. Received by: the dispatcher, which uses
// them for every event after this message and then sends each retired rule
// actor a PoisonPill behind the events it already sent it, so no event is
// lost or handled twice across the swap.
type RoutesChanged struct {
	Routes map[string][]*actor.PID
	Rules  []*actor.PID
	Retire []*actor.PID
}

// RoutesRequest asks the rules manager for the current routes; it answers
// RoutesChanged (without actors to retire). Sent by: the dispatcher when it
// starts, so that it never waits on a RoutesChanged the manager sent before
// the dispatcher existed.
type RoutesRequest struct{}

// Drain asks an actor that owns children whose mailboxes hold work (the
// rules manager) to let them finish it, save what must survive, stop them
// and answer Drained. Sent by: supervision at shutdown, in its phase.
type Drain struct{}

// Drained answers Drain.
type Drained struct{}
