package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/actors/heartbeat"

	"github.com/asynkron/protoactor-go/actor"
	zmq "github.com/pebbe/zmq4"

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
	for _, c := range []struct {
		name     string
		coalesce time.Duration
	}{{"decoded+delivered", 0}, {"decoded+delivered/coalesce=1s", time.Second}} {
		b.Run(c.name, func(b *testing.B) { ingest(b, c.coalesce, xsub, xpub, n, publish) })
	}
}

// ingest runs n heartbeats through a ChemBus actor (the daemon's default
// coalescing is 1 s: a flood must still be read at full speed) to a sink.
func ingest(b *testing.B, coalesce time.Duration, xsub, xpub string, n int, publish func(string, <-chan struct{})) {
	for b.Loop() {
		s := newSystem(b)
		var got atomic.Int64
		done := make(chan struct{})
		sink := s.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*messages.HeartbeatReceived); ok {
				if got.Add(1) == int64(n) {
					close(done)
				}
			}
		}))
		cb := s.Root.Spawn(actor.PropsFromProducer(chembus.New(chembus.Config{XSub: xsub, XPub: xpub,
			HeartbeatInterval: time.Hour, Zooid: "bench", OnKill: "pause", MaxFrameBytes: 65536, Registry: sink,
			ProcessStart: time.Now(), Coalesce: coalesce}, deps(clock.Real{}))))
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
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		s.Root.StopFuture(cb).Wait()
	}
}

func runProxy(b *testing.B, xsub, xpub string, stop <-chan struct{}) {
	ctx, cancel := contextUntil(stop)
	defer cancel()
	if err := chembus.RunProxy(ctx, xsub, xpub); err != nil {
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
		if p, ok := c.Message().(*messages.Publish); ok && p.Topic == messages.TopicGap {
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
	settleHeap() // the previous run's actors are garbage by now; collect them first
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	d := deps(clock.Real{})
	reg := s.Root.Spawn(actor.PropsFromProducer(heartbeat.NewRegistry(heartbeat.Config{Threshold: threshold,
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
	settleHeap()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if since := time.Since(at); since > threshold/2 {
		b.Logf("spawning %d watchers took %s", n, since)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-bytes/zooid")
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d gaps", len(lateness), n)
	}
	mu.Lock()
	slices.Sort(lateness)
	b.ReportMetric(float64(lateness[0].Microseconds())/1000, "min-ms")
	b.ReportMetric(float64(lateness[len(lateness)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lateness[len(lateness)*99/100].Microseconds())/1000, "p99-ms")
	mu.Unlock()
	s.Root.StopFuture(reg).Wait()
}

// BenchmarkIdleCPU: CPU used by the daemon (built binary, heartbeat monitor
// only) while `chembus load` — another process — sends heartbeats for 1,000
// zooids every 10 s. proxy=embedded: the daemon runs the proxy (make run on a
// bare machine); proxy=external: `chembus proxy` is another process, as the
// colony's proxy is on a KLoROS host; load=none: no traffic at all (the
// daemon's own timers). Measured from /proc/<pid>/stat over 20 s after a
// 12 s warm-up, as a percentage of one core.
func BenchmarkIdleCPU(b *testing.B) {
	bin := b.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../cmd/kloros-observer", "../cmd/chembus")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name     string
		external bool
		zooids   int
	}{{"proxy=embedded", false, 1000}, {"proxy=external", true, 1000}, {"proxy=embedded/load=none", false, 0}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				daemon, proxy := idleCPU(b, bin, c.external, c.zooids)
				b.ReportMetric(daemon, "%cpu")
				if c.external {
					// For scale: the embedded case does this process's work too.
					b.ReportMetric(proxy, "proxy-%cpu")
				}
			}
		})
	}
}

// idleCPU returns the daemon's CPU and, with an external proxy, the proxy
// process's, in % of one core.
func idleCPU(b *testing.B, bin string, external bool, zooids int) (daemon, proxy float64) {
	xsub, xpub := endpoint(b), endpoint(b)
	mode := "embedded"
	var px *exec.Cmd
	if external {
		mode = "external"
		px = exec.Command(bin+"/chembus", "proxy", "--xsub", xsub, "--xpub", xpub)
		if err := px.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { px.Process.Kill(); px.Wait() }()
	}
	d := exec.Command(bin+"/kloros-observer", "--state-dir", b.TempDir(), "--chembus-proxy", mode,
		"--chem-xsub", xsub, "--chem-xpub", xpub, "--log-level", "warn",
		"--watch-enabled=false", "--journald-enabled=false", "--scrape-enabled=false", "--http-enabled=false")
	d.Stderr = os.Stderr
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	if zooids > 0 {
		load := exec.Command(bin+"/chembus", "load", "--xsub", xsub, "--zooids", strconv.Itoa(zooids), "--interval", "10s", "--duration", "60s")
		if err := load.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { load.Process.Kill(); load.Wait() }()
	}
	time.Sleep(15 * time.Second) // every zooid known, start-up done
	var p0, p1 int64
	if px != nil {
		p0 = cpuTicks(b, px.Process.Pid)
	}
	t0, c0 := time.Now(), cpuTicks(b, d.Process.Pid)
	time.Sleep(30 * time.Second)
	t1, c1 := time.Now(), cpuTicks(b, d.Process.Pid)
	if px != nil {
		p1 = cpuTicks(b, px.Process.Pid)
	}
	pct := func(ticks int64) float64 { return 100 * float64(ticks) / 100 / t1.Sub(t0).Seconds() } // CLK_TCK = 100
	return pct(c1 - c0), pct(p1 - p0)
}

// settleHeap lets stopped actors' goroutines exit and collects twice (the
// first cycle may only run finalizers), so a heap delta measures live data.
func settleHeap() {
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.GC()
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}
