package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/messages"
)

// BenchmarkOnEvent: one event through the default rules that read its type
// (the per-event cost the pipeline pays in each rule actor).
func BenchmarkOnEvent(b *testing.B) {
	set := Default()
	for _, tc := range []struct{ typ, key string }{
		{"promotion_new", "path"}, {"lock_contention_high", "metric"}, {"phase_duration_high", "metric"},
		{"dream_heartbeat", "path"}, {"gpu_oom", "unit"},
	} {
		b.Run(tc.typ, func(b *testing.B) {
			var ins []*Instance
			for _, name := range set.Routes()[tc.typ] {
				ins = append(ins, set.Rule(name).New())
			}
			evs := make([]*messages.Event, 1024)
			for i := range evs {
				evs[i] = &messages.Event{Source: "bench", Type: tc.typ, TS: testStart,
					Data: map[string]any{tc.key: fmt.Sprintf("/x/%d", i), "value": float64(i % 20)}}
			}
			now := testStart
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now = now.Add(61 * time.Second)
				for _, in := range ins {
					in.OnEvent(evs[i%len(evs)], now)
				}
				i++
			}
		})
	}
}
