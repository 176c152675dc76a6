package bench

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/dispatch"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/rules"
	"github.com/kloros/kloros-observer/messages"
)

type messagesFlushed = messages.Flushed

func newFlush(id uint64, reply *actor.PID) *messages.Flush {
	return &messages.Flush{ID: id, ReplyTo: reply}
}

// pipeline spawns the eight rules and the dispatcher, with a sink standing
// in for the emitter (it counts intents and answers Flush).
func pipeline(b *testing.B, s *actor.ActorSystem, d actors.Deps) (*actor.PID, *atomic.Int64) {
	var intents atomic.Int64
	sink := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.EmitIntent:
			intents.Add(1)
		case *messages.Flush:
			c.Send(m.ReplyTo, &messages.Flushed{ID: m.ID})
		}
	}))
	routes := map[string][]*actor.PID{}
	var pids []*actor.PID
	for _, name := range rules.Names() {
		r, err := rules.New(name, nil)
		if err != nil {
			b.Fatal(err)
		}
		pid := s.Root.Spawn(actor.PropsFromProducer(rules.NewActor(name, func() (rules.Rule, error) { return rules.New(name, nil) }, sink, d.Clock, d.Logger, d.Stream)))
		pids = append(pids, pid)
		for _, t := range r.Subscribes() {
			routes[t] = append(routes[t], pid)
		}
	}
	disp := s.Root.Spawn(actor.PropsFromProducer(dispatch.New(dispatch.Config{
		DedupWindow: time.Minute, Routes: routes, Rules: pids}, d)))
	return disp, &intents
}

func events(n int) []*messages.Event {
	types := []struct{ typ, key string }{
		{"promotion_new", "path"}, {"lock_contention_high", "metric"}, {"phase_duration_high", "metric"},
		{"dream_heartbeat", "path"}, {"gpu_oom", "unit"}, {"unrouted_type", "path"},
	}
	out := make([]*messages.Event, n)
	for i := range out {
		t := types[i%len(types)]
		out[i] = &messages.Event{Source: "bench", Type: t.typ, TS: time.Now(),
			Data: map[string]any{t.key: fmt.Sprintf("/x/%d", i%1024), "value": float64(i % 20)}}
	}
	return out
}

// BenchmarkPipeline: events/s through the dispatcher and the eight rule
// actors (every event passes dedup and reaches its rules), sent one per
// message and in batches of 256 (how a source catching up sends).
func BenchmarkPipeline(b *testing.B) {
	evs := events(4096)
	for _, batch := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := newSystem(b)
			d := deps(&steppingClock{base: time.Now()})
			disp, intents := pipeline(b, s, d)
			b.ReportAllocs()
			b.ResetTimer()
			b.ReportMetric(drive(b, s, disp, evs, batch), "events/s")
			b.ReportMetric(float64(intents.Load()), "intents")
		})
	}
}

// drive sends the events into the dispatcher for b.Loop, one per message
// (batch 1) or batch at a time, waits until they went through, and returns
// the rate.
func drive(b *testing.B, s *actor.ActorSystem, disp *actor.PID, evs []*messages.Event, batch int) float64 {
	start := time.Now()
	n := 0
	for b.Loop() {
		if batch == 1 {
			s.Root.Send(disp, evs[n%len(evs)])
		} else if n%batch == 0 {
			k := n % len(evs)
			s.Root.Send(disp, &messages.EventBatch{Events: evs[k : k+batch]})
		}
		n++
	}
	waitFlushed(b, s, disp, 1)
	return float64(n) / time.Since(start).Seconds()
}
