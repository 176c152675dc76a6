package rules

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

// Actor runs one Rule.
//
// Receives: *messages.Event (from the dispatcher) → Rule.OnEvent;
// *messages.EventBatch (the same, many at once); its own tick →
// Rule.OnTick; *messages.Flush → forwarded unchanged to the emitter after
// the intents of every earlier event; *SnapshotRequest → answers
// *SnapshotResponse with the rule's state (for checkpoints). Sends:
// *messages.EmitIntent to the emitter; publishes *messages.RuleFired on the
// observation stream.
//
// The rule's state lives in the Rule, made by the producer: a restarted rule
// actor starts from a fresh Rule (a panic means its state is suspect).
// Releases its tick timer on Stopping and Restarting.
type Actor struct {
	name    string
	rule    Rule
	emitter *actor.PID
	clock   clock.Clock
	stream  *observe.Stream
	log     *slog.Logger
	stop    timer.Cancel
}

type tick struct{}

func (tick) NotInfluenceReceiveTimeout() {}

// NewActor returns a producer for the named rule's actor. The rule is built
// (and its config checked) once here so that a bad config fails at start-up;
// each incarnation gets a fresh Rule from the factory.
func NewActor(name string, factory func() (Rule, error), emitter *actor.PID, c clock.Clock, logger *slog.Logger, stream *observe.Stream) actor.Producer {
	return func() actor.Actor {
		r, err := factory()
		if err != nil {
			panic(err) // checked at tree build; cannot happen at restart
		}
		return &Actor{name: name, rule: r, emitter: emitter, clock: c, stream: stream, log: logger.With("actor", "rules/"+name)}
	}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if every := a.rule.TickEvery(); every > 0 {
			a.stop = timer.Every(ctx.ActorSystem(), 0, every, ctx.Self(), tick{})
		}
	case *actor.Stopping, *actor.Restarting:
		if a.stop != nil {
			a.stop()
			a.stop = nil
		}
	case *messages.Event:
		a.send(ctx, a.rule.OnEvent(m, a.clock.Now()))
	case *messages.EventBatch:
		now := a.clock.Now()
		for _, ev := range m.Events {
			a.send(ctx, a.rule.OnEvent(ev, now))
		}
	case tick:
		a.send(ctx, a.rule.OnTick(a.clock.Now()))
	case *messages.Flush:
		ctx.Send(a.emitter, m)
	case *SnapshotRequest:
		ctx.Respond(a.snapshot())
	default:
		switch m.(type) {
		case *actor.Stopped, *actor.Touch, *actor.PoisonPill:
		default:
			a.log.Debug("unhandled message", "type", typeName(m))
		}
	}
}

func (a *Actor) snapshot() *SnapshotResponse {
	st, ok := a.rule.(Stateful)
	if !ok {
		return &SnapshotResponse{}
	}
	b, err := st.Snapshot()
	if err != nil {
		return &SnapshotResponse{Err: fmt.Errorf("rules/%s: snapshot: %w", a.name, err)}
	}
	return &SnapshotResponse{State: &RuleState{Name: st.Name(), Hash: st.Hash(), State: b}}
}

func (a *Actor) send(ctx actor.Context, intents []messages.Intent) {
	for _, in := range intents {
		a.log.Info("rule fired", "intent_type", in.Type, "priority", in.Priority, "reason", in.Reason)
		if a.stream.Wants(observe.Rules) { // as the dispatcher and the emitter: nothing built for no one
			a.stream.Publish(&messages.RuleFired{At: a.clock.Now(), Rule: a.name, IntentType: in.Type, Priority: in.Priority, Reason: in.Reason})
		}
		ctx.Send(a.emitter, &messages.EmitIntent{Intent: in})
	}
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}
