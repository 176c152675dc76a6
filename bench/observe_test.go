package bench

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

// BenchmarkPipelineObserved is BenchmarkPipeline with subscribers on the
// observation stream: the dispatcher publishes every event (batch) with its
// dedup verdict, and each subscriber — a goroutine draining a 1,024-slot
// channel, as the dashboard's rings and SSE clients do — reads every event.
// subscribers=0 is the same build with nobody listening (Publish is then one
// atomic load). Reported: events/s, and what the subscribers dropped.
func BenchmarkPipelineObserved(b *testing.B) {
	evs := events(4096)
	for _, subs := range []int{0, 2} {
		for _, batch := range []int{1, 256} {
			b.Run(fmt.Sprintf("subscribers=%d/batch=%d", subs, batch), func(b *testing.B) {
				s := newSystem(b)
				d := deps(&steppingClock{base: time.Now()})
				d.Stream = observe.New(s.Root)
				var wg sync.WaitGroup
				done := make(chan struct{})
				var subscriptions []*observe.Subscription
				seen := make([]int, subs)
				for i := range subs {
					sub := d.Stream.Subscribe(fmt.Sprintf("bench%d", i), 1024, observe.All)
					subscriptions = append(subscriptions, sub)
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case p := <-sub.C():
								if ev, ok := p.(*messages.EventsObserved); ok {
									seen[i] += len(ev.Events)
								}
							case <-done:
								return
							}
						}
					}()
				}
				disp, _ := pipeline(b, s, d)
				b.ReportAllocs()
				b.ResetTimer()
				rate := drive(b, s, disp, evs, batch)
				b.StopTimer()
				var dropped uint64
				for _, sub := range subscriptions {
					dropped += sub.Dropped()
				}
				b.ReportMetric(rate, "events/s")
				b.ReportMetric(float64(dropped), "dropped-observations")
				for _, sub := range subscriptions {
					sub.Close()
				}
				close(done)
				wg.Wait()
			})
		}
	}
}
