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
// holding n zooids (one watcher actor each), over real HTTP, for the default
// page (limit=1000) and for every zooid in one response (limit=100000, what
// the page asks for), with the daemon's snapshot cache (one snapshot answers
// for 250 ms) and without it (every request reads the registry's View anew:
// the worst case). Reported: p50 and p99 latency and the response size.
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
		for _, cache := range []bool{true, false} {
			ttl := time.Duration(0) // the daemon's: one snapshot answers for 250 ms
			if !cache {
				ttl = -1
			}
			srv, err := web.New(web.Options{Config: web.DefaultHTTPConfig(), Feed: feed, Zooids: viewZooids{view}, SnapshotTTL: ttl})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			for _, limit := range []int{1000, 100000} {
				b.Run(fmt.Sprintf("zooids=%d/limit=%d/cache=%v", n, limit, cache), func(b *testing.B) {
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
		}
		s.Root.StopFuture(reg).Wait()
	}
}

// ssePipeline is one pipeline with the dashboard attached as in the daemon:
// the web Feed on the observation stream (unless clients < 0) and clients
// live-stream readers over real HTTP.
type ssePipeline struct {
	s        *actor.ActorSystem
	disp     *actor.PID
	stream   *observe.Stream
	received atomic.Int64
	stop     func()
}

func newSSEPipeline(b *testing.B, clients int) *ssePipeline {
	p := &ssePipeline{s: newSystem(b)}
	d := deps(&steppingClock{base: time.Now()})
	d.Stream = observe.New(p.s.Root)
	p.stream = d.Stream
	feed := web.NewFeed(web.FeedConfig{EventRing: 1000, IntentRing: 500})
	if clients >= 0 {
		feed.Start(d.Stream)
	}
	srv, err := web.New(web.Options{Config: web.DefaultHTTPConfig(), Stream: d.Stream, Feed: feed})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
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
					p.received.Add(1)
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
	p.disp, _ = pipeline(b, p.s, d)
	p.stop = func() {
		cancel()
		wg.Wait()
		ts.Close()
		feed.Close()
	}
	return p
}

var flushIDs atomic.Uint64

// send pushes n events (in batches of batch) and waits until all are
// through; it returns events/s.
func (p *ssePipeline) send(b *testing.B, evs []*messages.Event, n, batch int) float64 {
	start := time.Now()
	for i := 0; i < n; i += batch {
		k := i % len(evs)
		if batch == 1 {
			p.s.Root.Send(p.disp, evs[k])
		} else {
			p.s.Root.Send(p.disp, &messages.EventBatch{Events: evs[k : k+batch]})
		}
	}
	waitFlushed(b, p.s, p.disp, flushIDs.Add(1))
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkPipelineSSE is BenchmarkPipeline with the dashboard attached as
// in the daemon — the web Feed subscribed to the observation stream, and
// sse=10 live-stream clients reading /api/v1/stream over real HTTP (one hub
// subscription shared by the clients; each client filters, samples and
// encodes) — against web=off, the same pipeline with no dashboard at all.
//
// On a shared 2-core VM, runs minutes apart differ by 2-5x, so the variants
// run interleaved: each round sends the same events through web=off,
// sse=0 (the Feed only) and sse=10, in turn. Reported: each variant's median
// events/s over the rounds and the medians of the per-round ratios
// sse10/sse0 (what ten clients cost: target >= 0.90), sse0/off (what the
// Feed costs) and sse10/off (the whole dashboard).
func BenchmarkPipelineSSE(b *testing.B) {
	evs := events(4096)
	for _, batch := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			off, feedOnly, ten := newSSEPipeline(b, -1), newSSEPipeline(b, 0), newSSEPipeline(b, 10)
			defer off.stop()
			defer feedOnly.stop()
			defer ten.stop()
			n := 200_000
			if batch > 1 {
				n = 1_000_000
			}
			var rOff, rFeed, rTen, ratioTen, ratioFeed, ratioClients []float64
			for b.Loop() {
				a := off.send(b, evs, n, batch)
				f := feedOnly.send(b, evs, n, batch)
				t := ten.send(b, evs, n, batch)
				rOff, rFeed, rTen = append(rOff, a), append(rFeed, f), append(rTen, t)
				ratioTen, ratioFeed, ratioClients = append(ratioTen, t/a), append(ratioFeed, f/a), append(ratioClients, t/f)
			}
			med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
			b.ReportMetric(med(rOff), "off-events/s")
			b.ReportMetric(med(rFeed), "sse0-events/s")
			b.ReportMetric(med(rTen), "sse10-events/s")
			b.ReportMetric(med(ratioFeed), "sse0/off")
			b.ReportMetric(med(ratioTen), "sse10/off")
			b.ReportMetric(med(ratioClients), "sse10/sse0")
			var dropped uint64
			for _, sub := range ten.stream.Subscribers() {
				if sub.Name() == "sse" {
					dropped += sub.Dropped()
				}
			}
			b.ReportMetric(float64(ten.received.Load())/10, "sse-events/client")
			b.ReportMetric(float64(dropped), "sse-dropped-payloads")
		})
	}
}
