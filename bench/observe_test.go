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
				el := time.Since(start)
				b.StopTimer()
				var dropped uint64
				for _, sub := range subscriptions {
					dropped += sub.Dropped()
				}
				b.ReportMetric(float64(n)/el.Seconds(), "events/s")
				b.ReportMetric(float64(dropped), "dropped-batches")
				for _, sub := range subscriptions {
					sub.Close()
				}
				close(done)
				wg.Wait()
			})
		}
	}
}
