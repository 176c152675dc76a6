package bench

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	zmq "github.com/pebbe/zmq4"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/messages"
	"github.com/kloros/kloros-observer/supervision"
)

func endpoint(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func heartbeatPayload(i int) []byte {
	return fmt.Appendf(nil, `{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":"zooid_%d","niche":"bench","uptime_s":1795408000.5,"processed_count":%d},"incident_id":null,"trace":null,"ts":1795408000.5,"schema_version":1}`, i%1000, i)
}

// BenchmarkHeartbeatIngest: heartbeats/s decoded and delivered to a sink
// actor (standing in for the registry) through a real proxy, beside the raw
// PUB→SUB rate of the same proxy measured in the same run.
func BenchmarkHeartbeatIngest(b *testing.B) {
	const n = 200000
	payloads := make([][]byte, 1000)
	for i := range payloads {
		payloads[i] = heartbeatPayload(i)
	}
	publish := func(xsub string, ready <-chan struct{}) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		zctx, _ := zmq.NewContext()
		s, _ := zctx.NewSocket(zmq.PUB)
		s.SetSndhwm(0)
		s.Connect(xsub)
		<-ready
		for i := range n {
			s.SendBytes([]byte("HEARTBEAT"), zmq.SNDMORE)
			s.SendBytes(payloads[i%len(payloads)], 0)
		}
		s.SetLinger(10 * time.Second)
		s.Close()
		zctx.Term()
	}
	xsub, xpub := endpoint(b), endpoint(b)
	stopProxy := make(chan struct{})
	proxyDone := make(chan struct{})
	go func() { defer close(proxyDone); runProxy(b, xsub, xpub, stopProxy) }()
	b.Cleanup(func() { close(stopProxy); <-proxyDone })
	time.Sleep(200 * time.Millisecond)

	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			runtime.LockOSThread()
			zctx, _ := zmq.NewContext()
			s, _ := zctx.NewSocket(zmq.SUB)
			s.SetRcvhwm(0)
			s.SetSubscribe("HEARTBEAT")
			s.Connect(xpub)
			ready := make(chan struct{})
			go publish(xsub, ready)
			time.Sleep(300 * time.Millisecond) // subscription propagation
			close(ready)
			start := time.Now()
			for range n {
				if _, err := s.RecvMessageBytes(0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(n/time.Since(start).Seconds(), "msgs/s")
			s.Close()
			zctx.Term()
			runtime.UnlockOSThread()
		}
	})
	b.Run("decoded+delivered", func(b *testing.B) {
		for b.Loop() {
			s := newSystem(b)
			var got atomic.Int64
			done := make(chan struct{})
			sink := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				if _, ok := c.Message().(*messages.HeartbeatReceived); ok {
					if got.Add(1) == n {
						close(done)
					}
				}
			}))
			cb := s.Root.Spawn(actor.PropsFromProducer(actors.NewChemBus(actors.ChemBusConfig{XSub: xsub, XPub: xpub,
				HeartbeatInterval: time.Hour, Zooid: "bench", OnKill: "pause", MaxFrameBytes: 65536, Registry: sink,
				ProcessStart: time.Now()}, deps(clock.Real{}))))
			ready := make(chan struct{})
			go publish(xsub, ready)
			time.Sleep(300 * time.Millisecond)
			close(ready)
			start := time.Now()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				b.Fatalf("only %d of %d heartbeats delivered", got.Load(), n)
			}
			b.ReportMetric(n/time.Since(start).Seconds(), "msgs/s")
			s.Root.StopFuture(cb).Wait()
		}
	})
}

func runProxy(b *testing.B, xsub, xpub string, stop <-chan struct{}) {
	ctx, cancel := contextUntil(stop)
	defer cancel()
	if err := actors.RunProxy(ctx, xsub, xpub); err != nil {
		b.Error(err)
	}
}

// BenchmarkZooidScale: per-zooid memory once every watcher exists, and how
// late gaps are reported when every zooid expires in the same instant
// (detection error = publish time - (last heartbeat + threshold)).
func BenchmarkZooidScale(b *testing.B) {
	for _, n := range []int{100, 10000, 100000} {
		b.Run(fmt.Sprintf("zooids=%d", n), func(b *testing.B) {
			for b.Loop() {
				scaleRun(b, n)
			}
		})
	}
}

func scaleRun(b *testing.B, n int) {
	const threshold = 3 * time.Second
	s := newSystem(b)
	var mu sync.Mutex
	var lateness []time.Duration
	expect := map[string]time.Time{}
	done := make(chan struct{})
	sink := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if p, ok := c.Message().(*messages.Publish); ok && p.Topic == actors.TopicGap {
			now := time.Now()
			mu.Lock()
			z := p.Signal.Facts["zooid"].(string)
			lateness = append(lateness, now.Sub(expect[z]))
			if len(lateness) == n {
				close(done)
			}
			mu.Unlock()
		}
	}))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	d := deps(clock.Real{})
	reg := s.Root.Spawn(actor.PropsFromProducer(actors.NewZooidRegistry(actors.RegistryConfig{Threshold: threshold,
		RecoveryTopic: "R", Retention: time.Hour, MaxZooids: n + 1, CheckpointEvery: 5 * time.Second,
		StateFile: b.TempDir() + "/registry.json", ChemBus: sink,
		WatcherMailbox: supervision.NewMailboxes(d.Metrics).Bounded("watcher", 1000)}, d)))
	names := make([]string, n)
	at := time.Now()
	mu.Lock()
	for i := range n {
		names[i] = fmt.Sprintf("zooid_%d", i)
		expect[names[i]] = at.Add(threshold)
	}
	mu.Unlock()
	for i := range n {
		s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: names[i], Niche: "bench", At: at})
	}
	if _, err := s.Root.RequestFuture(reg, &actor.Touch{}, time.Minute).Result(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if since := time.Since(at); since > threshold/2 {
		b.Logf("spawning %d watchers took %s", n, since)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-bytes/zooid")
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d gaps", len(lateness), n)
	}
	mu.Lock()
	slices.Sort(lateness)
	b.ReportMetric(float64(lateness[len(lateness)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lateness[len(lateness)*99/100].Microseconds())/1000, "p99-ms")
	mu.Unlock()
	s.Root.StopFuture(reg).Wait()
}

// BenchmarkIdleCPU: CPU used by the registry with 1,000 zooids beating every
// 10 s, measured with getrusage over 20 s (two full heartbeat rounds).
func BenchmarkIdleCPU(b *testing.B) {
	const n, interval, window = 1000, 10 * time.Second, 20 * time.Second
	for b.Loop() {
		s := newSystem(b)
		sink := s.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		reg := s.Root.Spawn(actor.PropsFromProducer(actors.NewZooidRegistry(actors.RegistryConfig{Threshold: 30 * time.Second,
			RecoveryTopic: "R", Retention: time.Hour, MaxZooids: n, CheckpointEvery: 5 * time.Second, ChemBus: sink},
			deps(clock.Real{}))))
		stop := make(chan struct{})
		go func() { // beats spread evenly over the interval, as real zooids do
			step := interval / n
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(step):
					s.Root.Send(reg, &messages.HeartbeatReceived{Zooid: fmt.Sprintf("zooid_%d", i%n), Niche: "idle", At: time.Now()})
				}
			}
		}()
		time.Sleep(interval) // every zooid known
		var r0, r1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		time.Sleep(window)
		syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		close(stop)
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
		b.ReportMetric(100*cpu.Seconds()/window.Seconds(), "%cpu")
		s.Root.StopFuture(reg).Wait()
	}
}
