package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/heartbeat"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/web"
	"github.com/kloros/kloros-observer/messages"
	"github.com/kloros/kloros-observer/supervision"
)

// viewZooids is web.Zooids over a real registry's View (the daemon's
// adapter in supervision/tree_web.go does the same).
type viewZooids struct{ v *heartbeat.View }

func (z viewZooids) Zooids() []web.Zooid {
	zs := z.v.Zooids()
	out := make([]web.Zooid, len(zs))
	for i, x := range zs {
		out[i] = web.Zooid{Name: x.Name, Niche: x.Niche, State: x.State, LastSeen: x.LastSeen, Threshold: x.Threshold,
			Incident: x.Incident, SilentSince: x.SilentSince}
	}
	return out
}
func (viewZooids) Forget(string) (bool, error) { return false, nil }

// BenchmarkAPIZooids: GET /api/v1/zooids against a real heartbeat registry
// holding n zooids (one watcher actor each), over real HTTP, with the
// snapshot cache off (every request reads the registry's View anew), for the
// default page (limit=1000) and for every zooid in one response
// (limit=100000, what the page asks for). Reported: p50 and p99 latency and
// the response size.
func BenchmarkAPIZooids(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		s := newSystem(b)
		d := deps(clock.Real{})
		view := heartbeat.NewView()
		reg := s.Root.Spawn(actor.PropsFromProducer(heartbeat.NewRegistry(heartbeat.Config{Threshold: time.Hour,
			RecoveryTopic: "R", Retention: time.Hour, MaxZooids: n + 1, CheckpointEvery: time.Hour,
			StateFile: b.TempDir() + "/registry.json", View: view,
			WatcherMailbox: supervision.NewMailboxes(d.Metrics).Bounded("watcher", 1000)}, d)))
		at := time.Now()
		for i := range n {
			s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: fmt.Sprintf("zooid-%06d", i), Niche: fmt.Sprintf("niche-%d", i%20), At: at})
		}
		deadline := time.Now().Add(time.Minute)
		for view.Len() < n { // the registry republishes its View every second
			if time.Now().After(deadline) {
				b.Fatalf("view has %d of %d zooids", view.Len(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		feed := web.NewFeed(web.FeedConfig{EventRing: 10, IntentRing: 10})
		srv, err := web.New(web.Options{Config: web.DefaultHTTPConfig(), Feed: feed, Zooids: viewZooids{view}, SnapshotTTL: -1})
		if err != nil {
			b.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		for _, limit := range []int{1000, 100000} {
			if limit > n && limit != 100000 {
				continue
			}
			b.Run(fmt.Sprintf("zooids=%d/limit=%d", n, limit), func(b *testing.B) {
				url := fmt.Sprintf("%s/api/v1/zooids?limit=%d", ts.URL, limit)
				var lat []time.Duration
				var size int64
				b.ReportAllocs()
				for b.Loop() {
					start := time.Now()
					resp, err := http.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					size, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("HTTP %d", resp.StatusCode)
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(size), "bytes/resp")
			})
		}
		ts.Close()
		s.Root.StopFuture(reg).Wait()
	}
}

// BenchmarkPipelineSSE is BenchmarkPipeline with the dashboard attached as
// in the daemon: the web Feed subscribed to the observation stream, and
// sse=10 live-stream clients reading /api/v1/stream over real HTTP (each
// its own stream subscriber, encoding every event as JSON). sse=0 is the
// same with only the Feed, web=off the pipeline with no dashboard at all.
// The target: sse=10 keeps >= 90% of the events/s without them (a slow client
// drops, counted; it never slows the pipeline).
func BenchmarkPipelineSSE(b *testing.B) {
	evs := events(4096)
	for _, batch := range []int{1, 256} {
		for _, clients := range []int{-1, 0, 10} {
			name := fmt.Sprintf("batch=%d/sse=%d", batch, clients)
			if clients < 0 {
				name = fmt.Sprintf("batch=%d/web=off", batch)
			}
			b.Run(name, func(b *testing.B) {
				s := newSystem(b)
				d := deps(&steppingClock{base: time.Now()})
				d.Stream = observe.New(s.Root)
				feed := web.NewFeed(web.FeedConfig{EventRing: 1000, IntentRing: 500})
				if clients >= 0 {
					feed.Start(d.Stream)
					defer feed.Close()
				}
				srv, err := web.New(web.Options{Config: web.DefaultHTTPConfig(), Stream: d.Stream, Feed: feed})
				if err != nil {
					b.Fatal(err)
				}
				ts := httptest.NewServer(srv.Handler())
				defer ts.Close()
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				var received atomic.Int64
				for range clients {
					req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/stream", nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer resp.Body.Close()
						sc := bufio.NewScanner(resp.Body)
						sc.Buffer(make([]byte, 64<<10), 1<<20)
						for sc.Scan() {
							if len(sc.Bytes()) > 6 && string(sc.Bytes()[:6]) == "data: " {
								received.Add(1)
							}
						}
					}()
				}
				want := 0 // the Feed's two subscriptions, and the live stream's one for every client
				if clients >= 0 {
					want = 2
				}
				if clients > 0 {
					want = 3
				}
				for len(d.Stream.Subscribers()) < want {
					time.Sleep(time.Millisecond)
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
				b.ReportMetric(float64(n)/el.Seconds(), "events/s")
				if clients > 0 {
					var dropped uint64
					for _, sub := range d.Stream.Subscribers() {
						if sub.Name() == "sse" {
							dropped += sub.Dropped()
						}
					}
					b.ReportMetric(float64(received.Load())/float64(clients), "sse-events/client")
					b.ReportMetric(float64(dropped), "sse-dropped-payloads")
				}
				cancel()
				wg.Wait()
			})
		}
	}
}
