package scrape

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/messages"
)

func TestCheckerIncreaseResetAndCrossing(t *testing.T) {
	c := newChecker([]Check{{Name: "lc", Metric: "c_total", Mode: "increase", Window: 10 * time.Minute, Op: ">", Value: 10, EventType: "lock_contention_high"}})
	t0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func(v float64, m int) []*messages.Event {
		evs, _ := c.evaluate(map[string][]series{"c_total": {{name: "c_total", labels: map[string]string{"job": "o"}, value: v}}}, t0.Add(time.Duration(m)*time.Minute))
		return evs
	}
	require.Empty(t, at(100, 0), "one sample is no increase (a big counter alone never fires)")
	require.Empty(t, at(105, 1), "+5")
	evs := at(112, 2) // +12 within the window
	require.Len(t, evs, 1)
	require.Equal(t, 12.0, evs[0].Data["value"])
	require.Empty(t, at(115, 3), "still over: no second event")
	require.Empty(t, at(115, 4), "flat")
	require.Empty(t, at(3, 14), "reset to 3 counts +3; the old samples left the window: back under")
	require.Len(t, at(20, 15), 1, "+17 after the reset: a new crossing fires again")
}

func TestCheckerRatioInvertMinusAndLabels(t *testing.T) {
	c := newChecker(DefaultChecks())
	fs := func(mp, fstype string, avail, size float64) []series {
		l := map[string]string{"mountpoint": mp, "fstype": fstype, "device": "d"}
		return []series{{name: "node_filesystem_avail_bytes", labels: l, value: avail}, {name: "node_filesystem_size_bytes", labels: l, value: size}}
	}
	by := map[string][]series{}
	for _, s := range append(append(fs("/", "ext4", 10, 100), fs("/data", "ext4", 50, 100)...), fs("/run", "tmpfs", 1, 100)...) {
		by[s.name] = append(by[s.name], s)
	}
	by["node_memory_SwapTotal_bytes"] = []series{{name: "node_memory_SwapTotal_bytes", labels: map[string]string{}, value: 1 << 30}}
	by["node_memory_SwapFree_bytes"] = []series{{name: "node_memory_SwapFree_bytes", labels: map[string]string{}, value: 512 << 20}}
	evs, over := c.evaluate(by, time.Now())
	types := map[string]string{}
	for _, e := range evs {
		types[e.Type+":"+fmt.Sprint(e.Data["mountpoint"])] = fmt.Sprint(e.Data["value"])
	}
	require.Equal(t, map[string]string{"disk_space_high:/": "0.9", "memory_pressure:<nil>": fmt.Sprint(float64(512 << 20))}, types,
		"90%-used / fires, 50% /data does not, tmpfs excluded; 512 MiB of swap in use")
	require.Equal(t, 1, over["disk_space"])
}

// metricsServer serves a body that the test changes between scrapes.
type metricsServer struct {
	mu   sync.Mutex
	ct   string
	body string
}

func (m *metricsServer) set(ct, body string) { m.mu.Lock(); m.ct, m.body = ct, body; m.mu.Unlock() }
func (m *metricsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	ct, body := m.ct, m.body
	m.mu.Unlock()
	w.Header().Set("Content-Type", ct)
	fmt.Fprint(w, body)
}

func startScrape(t *testing.T, url string, checks []Check, maxBody int64, timeout time.Duration) (chan any, actors.Deps) {
	t.Helper()
	s := actortest.NewSystem(t)
	disp, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(SourceConfig{Endpoint: url, Config: Config{Interval: 100 * time.Millisecond,
		Timeout: timeout, MaxBodyBytes: maxBody, FallbackProtocol: FallbackNone}, Checks: checks, Dispatcher: disp}, deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	return ch, deps
}

func scrapes(t *testing.T, d actors.Deps, result string) float64 {
	return actortest.CounterValue(t, d.Metrics, "kloros_observer_scrapes_total", map[string]string{"result": result})
}

const textCT = "text/plain; version=0.0.4; charset=utf-8"
const omCT = "application/openmetrics-text; version=1.0.0; charset=utf-8"

func kl(n int, extra string) string {
	return fmt.Sprintf(`# HELP kloros_orchestrator_lock_contention_total Lock contentions.
# TYPE kloros_orchestrator_lock_contention_total counter
kloros_orchestrator_lock_contention_total{lock="phase"} %d
# HELP kloros_phase_duration_seconds Duration of the last PHASE run.
# TYPE kloros_phase_duration_seconds gauge
kloros_phase_duration_seconds{phase="spica"} 9000
# HELP kloros_request_seconds Request latency.
# TYPE kloros_request_seconds histogram
kloros_request_seconds_bucket{le="0.1"} 3
kloros_request_seconds_bucket{le="+Inf"} 4
kloros_request_seconds_sum 0.7
kloros_request_seconds_count 4
%s`, n, extra)
}

func TestScrapeRealHTTPServerTextAndOpenMetrics(t *testing.T) {
	ms := &metricsServer{}
	ms.set(textCT, kl(100, ""))
	srv := httptest.NewServer(ms)
	defer srv.Close()
	checks := []Check{
		{Name: "lock_contention", Metric: "kloros_orchestrator_lock_contention_total", Mode: "increase", Window: time.Minute, Op: ">", Value: 10, EventType: "lock_contention_high"},
		{Name: "phase_duration", Metric: "kloros_phase_duration_seconds", Labels: map[string]string{"phase": "spica"}, Mode: "gauge", Op: ">", Value: 7200, EventType: "phase_duration_high"},
		{Name: "requests", Metric: "kloros_request_seconds_count", Mode: "gauge", Op: ">=", Value: 4, EventType: "requests_seen"},
	}
	ch, deps := startScrape(t, srv.URL, checks, 1<<20, time.Second)
	got := map[string]int{}
	deadline := time.After(10 * time.Second)
	for got["phase_duration_high"] == 0 || got["requests_seen"] == 0 {
		select {
		case m := <-ch:
			got[m.(*messages.Event).Type]++
		case <-deadline:
			t.Fatalf("events so far: %v", got)
		}
	}
	require.Zero(t, got["lock_contention_high"], "a flat counter is no increase")
	// Reset to 5 (an increase of 5, not -95: under the threshold), then +20 in OpenMetrics: fires once.
	ms.set(textCT, kl(5, ""))
	require.Eventually(t, func() bool { return scrapes(t, deps, "ok") >= 6 }, 5*time.Second, 10*time.Millisecond)
	ms.set(omCT, strings.Replace(kl(25, "# EOF\n"), "kloros_orchestrator_lock_contention_total counter", "kloros_orchestrator_lock_contention counter", 1))
	e := actortest.Next[*messages.Event](t, ch, 5*time.Second)
	for e.Type != "lock_contention_high" {
		e = actortest.Next[*messages.Event](t, ch, 5*time.Second)
	}
	require.Equal(t, 25.0, e.Data["value"], "within the window: the reset to 5 counts +5, then +20")
	require.Equal(t, "phase", e.Data["lock"])
	n := scrapes(t, deps, "ok")
	require.Eventually(t, func() bool { return scrapes(t, deps, "ok") >= n+5 }, 5*time.Second, 10*time.Millisecond)
	for len(ch) > 0 {
		if ev := (<-ch).(*messages.Event); ev.Type == "lock_contention_high" {
			t.Fatal("a check still over its threshold fired again")
		}
	}
}

func TestScrapeBadInputCountedAndSurvived(t *testing.T) {
	var mode atomic.Value
	mode.Store("ok")
	release := make(chan struct{})
	defer close(release)
	big := strings.Repeat("# padding line to make the body large\n", 50<<20/38)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "stall":
			select {
			case <-r.Context().Done():
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return
		case "huge":
			w.Header().Set("Content-Type", textCT)
			fmt.Fprint(w, big)
		case "garbage":
			w.Header().Set("Content-Type", textCT)
			fmt.Fprint(w, "this is { not an exposition\n")
		case "html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html></html>")
		case "500":
			http.Error(w, "boom", 500)
		default:
			w.Header().Set("Content-Type", textCT)
			fmt.Fprint(w, kl(1, ""))
		}
	}))
	defer srv.Close()
	// 2 s: reading 1 MiB of exposition under -race takes longer than a
	// shorter timeout, which would turn too_large into timeout.
	ch, deps := startScrape(t, srv.URL, nil, 1<<20, 2*time.Second)
	_ = ch
	for _, m := range []struct{ mode, reason string }{
		{"stall", "timeout"}, {"huge", "too_large"}, {"garbage", "parse"}, {"html", "content_type"}, {"500", "status"},
	} {
		mode.Store(m.mode)
		require.Eventually(t, func() bool { return scrapes(t, deps, m.reason) >= 1 }, 10*time.Second, 10*time.Millisecond, m.reason)
		mode.Store("ok")
		n := scrapes(t, deps, "ok")
		require.Eventually(t, func() bool { return scrapes(t, deps, "ok") > n }, 10*time.Second, 10*time.Millisecond, "recovers after "+m.reason)
	}
	// Connection refused: a port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + l.Addr().String() + "/metrics"
	l.Close()
	_, deps2 := startScrape(t, dead, nil, 1<<20, 300*time.Millisecond)
	require.Eventually(t, func() bool { return scrapes(t, deps2, "connect") >= 3 }, 10*time.Second, 10*time.Millisecond)
}

// TestScrapeRealNodeExporter drives the disk-space check from a real
// prometheus-node-exporter's metrics with a threshold the test chooses.
func TestScrapeRealNodeExporter(t *testing.T) {
	const ne = "/usr/bin/prometheus-node-exporter"
	if _, err := os.Stat(ne); err != nil {
		t.Fatal("this test needs node_exporter: apt-get install prometheus-node-exporter")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(ne, "--web.listen-address="+addr, "--collector.disable-defaults", "--collector.filesystem", "--collector.meminfo")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	checks := DefaultChecks()
	for i := range checks {
		if checks[i].Name == "disk_space" {
			checks[i].Value = 0.0001 // any filesystem with anything on it
		}
	}
	ch, deps := startScrape(t, "http://"+addr+"/metrics", checks, 16<<20, 2*time.Second)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-ch:
			e := m.(*messages.Event)
			if e.Type == "disk_space_high" && e.Data["mountpoint"] == "/" {
				require.Greater(t, e.Data["value"].(float64), 0.0001)
				require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_scrape_up", nil))
				require.Zero(t, scrapes(t, deps, "parse"), "node_exporter's answer to our Accept header parses")
				return
			}
		case <-deadline:
			t.Fatalf("no disk_space_high for / from node_exporter (ok scrapes: %v)", scrapes(t, deps, "ok"))
		}
	}
}

// TestScrapeHangingEndpointNeverStacks: with no timeout configured the
// source derives one (¾ of the interval), so an endpoint that never answers,
// or sends headers and then stalls the body, is cut off before the next tick:
// one request at a time, each counted as a timeout.
func TestScrapeHangingEndpointNeverStacks(t *testing.T) {
	require.Equal(t, 75*time.Millisecond, DefaultScrapeTimeout(100*time.Millisecond))
	require.Equal(t, 10*time.Second, DefaultScrapeTimeout(time.Minute), "capped at 10 s")
	for _, mode := range []string{"no answer", "headers then stall"} {
		t.Run(mode, func(t *testing.T) {
			var inflight, peak, served atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := inflight.Add(1)
				defer inflight.Add(-1)
				served.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if mode == "headers then stall" {
					w.Header().Set("Content-Type", textCT)
					fmt.Fprint(w, "# TYPE up gauge\nup{job=")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done(): // we hung up
				case <-time.After(time.Minute):
				}
			}))
			defer srv.Close()
			// Timeout unset: 300 ms of a 400 ms interval, leaving the server
			// 100 ms to notice we hung up before the next request.
			s := actortest.NewSystem(t)
			disp, _ := actortest.Probe(t, s)
			deps := actortest.Deps(t, nil)
			pid := s.Root.Spawn(actor.PropsFromProducer(New(SourceConfig{Endpoint: srv.URL, Config: Config{Interval: 400 * time.Millisecond,
				MaxBodyBytes: 1 << 20}, Dispatcher: disp}, deps)))
			t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
			require.Eventually(t, func() bool { return scrapes(t, deps, "timeout") >= 4 }, 10*time.Second, 10*time.Millisecond,
				"by reason: parse %v connect %v", scrapes(t, deps, "parse"), scrapes(t, deps, "connect"))
			require.Equal(t, int64(1), peak.Load(), "never two requests at once")
			require.Less(t, actortest.CounterValue(t, deps.Metrics, "kloros_observer_scrapes_skipped_total", nil), 2.0,
				"the timeout ends each scrape before the next tick")
			require.Zero(t, scrapes(t, deps, "parse"), "a stalled body is a timeout, not a parse error")
			require.Eventually(t, func() bool { return inflight.Load() == 0 }, time.Second, 5*time.Millisecond, "every request was hung up")
		})
	}
}

// TestCheckerForgetsVanishedSeries: a label set that churns (a pod, a
// request id, a per-run label) leaves no state behind once it is gone from
// the endpoint, so memory stays bounded by what the endpoint exposes now.
func TestCheckerForgetsVanishedSeries(t *testing.T) {
	c := newChecker([]Check{
		{Name: "inc", Metric: "jobs_total", Mode: "increase", Window: time.Hour, Op: ">", Value: 0, EventType: "jobs"},
		{Name: "gauge", Metric: "queue", Op: ">", Value: 0, EventType: "queue"},
	})
	t0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	scrape := func(i int) map[string][]series {
		by := map[string][]series{}
		for _, run := range []int{i, i + 1} { // each run lives for two scrapes
			l := map[string]string{"run": fmt.Sprint(run)}
			by["jobs_total"] = append(by["jobs_total"], series{name: "jobs_total", labels: l, value: float64(i)})
			by["queue"] = append(by["queue"], series{name: "queue", labels: l, value: 1})
		}
		return by
	}
	fired := 0
	for i := range 10000 {
		evs, over := c.evaluate(scrape(i), t0.Add(time.Duration(i)*30*time.Second))
		fired += len(evs)
		require.Equal(t, 2, over["gauge"])
	}
	require.Equal(t, 2, len(c.history), "only the two live series keep increase history")
	require.Equal(t, 3, len(c.firing), "only live series are firing (the gauge's two, the increase's one with two samples)")
	require.Equal(t, 10000*2, fired, "each run fires its gauge once and its increase once")
	// A series that comes back starts from scratch: one sample is no increase.
	evs, _ := c.evaluate(scrape(0), t0.Add(10000*30*time.Second))
	require.Len(t, evs, 2, "the gauges fire again; the increases need a second sample")
}

// TestScrapeFiringMetricPerEndpointAndCheck: two endpoints run the same
// checks; the firing gauge tells them apart (it was labelled by check only,
// so the endpoints overwrote each other's count every scrape).
func TestScrapeFiringMetricPerEndpointAndCheck(t *testing.T) {
	hot, cool := &metricsServer{}, &metricsServer{}
	hot.set(textCT, kl(1, ""))                                                                    // phase 9000 s: over 7200
	cool.set(textCT, strings.Replace(kl(1, ""), `{phase="spica"} 9000`, `{phase="spica"} 60`, 1)) // under
	s := actortest.NewSystem(t)
	disp, _ := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	for i, ms := range []*metricsServer{hot, cool} {
		srv := httptest.NewServer(ms)
		t.Cleanup(srv.Close)
		pid := s.Root.Spawn(actor.PropsFromProducer(New(SourceConfig{Endpoint: srv.URL, Index: i, Config: Config{Interval: 50 * time.Millisecond,
			MaxBodyBytes: 1 << 20}, Checks: DefaultChecks(), Dispatcher: disp}, deps)))
		t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	}
	firing := func(ep, check string) float64 {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_check_firing_series", map[string]string{"endpoint": ep, "check": check})
	}
	require.Eventually(t, func() bool {
		return scrapes(t, deps, "ok") >= 20 && firing("0", "phase_duration") == 1
	}, 5*time.Second, 5*time.Millisecond)
	for range 20 { // both keep scraping; neither overwrites the other
		require.Equal(t, 1.0, firing("0", "phase_duration"))
		require.Equal(t, 0.0, firing("1", "phase_duration"))
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, 0.0, firing("0", "disk_space"), "every check has a series per endpoint, at 0 when nothing is over")
}
