package scrape

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/kloros/kloros-observer/messages"
)

// clientGolangEndpoint is a real client_golang promhttp handler with
// OpenMetrics on, created samples, an exemplar and a unit: what an
// instrumented Go service exposes. forceOM makes it answer OpenMetrics
// whatever we ask for (an endpoint that ignores our preference). It records
// the Content-Type of each answer.
type clientGolangEndpoint struct {
	counter *prometheus.CounterVec
	h       http.Handler
	forceOM bool
	mu      sync.Mutex
	types   map[string]int
}

func newClientGolangEndpoint(forceOM bool) *clientGolangEndpoint {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kloros_orchestrator_lock_contention_total", Help: "Lock contentions."}, []string{"lock"})
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kloros_request_seconds", Help: "Request latency."})
	reg.MustRegister(c, hist)
	c.WithLabelValues("phase").(prometheus.ExemplarAdder).AddWithExemplar(100, prometheus.Labels{"trace_id": "4bf92f3577b34da6"})
	hist.(prometheus.ExemplarObserver).ObserveWithExemplar(0.3, prometheus.Labels{"trace_id": "00f067aa0ba902b7"})
	// client_golang has no unit option; a gatherer adds a family with one
	// (prometheus.Gatherers would drop the unit when merging).
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := reg.Gather()
		return append(mfs, &dto.MetricFamily{Name: proto.String("kloros_gpu_temperature_celsius"), Help: proto.String("GPU temperature."),
			Unit: proto.String("celsius"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Label: []*dto.LabelPair{{Name: proto.String("gpu"), Value: proto.String("0")}}, Gauge: &dto.Gauge{Value: proto.Float64(91.5)}}}}), err
	})
	return &clientGolangEndpoint{counter: c, forceOM: forceOM, types: map[string]int{},
		h: promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true, EnableOpenMetricsTextCreatedSamples: true})}
}

func (e *clientGolangEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.forceOM {
		r.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	}
	e.h.ServeHTTP(w, r)
	mt, _, _ := strings.Cut(w.Header().Get("Content-Type"), ";")
	e.mu.Lock()
	e.types[mt]++
	e.mu.Unlock()
}

func (e *clientGolangEndpoint) contentTypes() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.types {
		out[k] = v
	}
	return out
}

func omChecks() []Check {
	return []Check{
		{Name: "lock_contention", Metric: "kloros_orchestrator_lock_contention_total", Mode: "increase", Window: time.Minute, Op: ">", Value: 10, EventType: "lock_contention_high"},
		{Name: "gpu_hot", Metric: "kloros_gpu_temperature_celsius", Op: ">", Value: 90, EventType: "gpu_hot"},
		{Name: "requests", Metric: "kloros_request_seconds_count", Op: ">=", Value: 1, EventType: "requests_seen"},
	}
}

// scrapeClientGolang scrapes ep until every check fired once and returns the
// events by type.
func scrapeClientGolang(t *testing.T, ep *clientGolangEndpoint) map[string]*messages.Event {
	t.Helper()
	srv := httptest.NewServer(ep)
	defer srv.Close()
	ch, deps := startScrape(t, srv.URL, omChecks(), 1<<20, time.Second)
	require.Eventually(t, func() bool { return scrapes(t, deps, "ok") >= 2 }, 5*time.Second, 10*time.Millisecond,
		"scrapes by result: parse %v", scrapes(t, deps, "parse"))
	ep.counter.WithLabelValues("phase").Add(25) // an increase of 25 over the window
	got := map[string]*messages.Event{}
	deadline := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case m := <-ch:
			e := m.(*messages.Event)
			got[e.Type] = e
		case <-deadline:
			t.Fatalf("events so far: %v; parse failures: %v", got, scrapes(t, deps, "parse"))
		}
	}
	require.Zero(t, scrapes(t, deps, "parse"))
	return got
}

func TestScrapeClientGolangOpenMetricsEndpointAnswersText(t *testing.T) {
	ep := newClientGolangEndpoint(false)
	got := scrapeClientGolang(t, ep)
	require.Equal(t, 25.0, got["lock_contention_high"].Data["value"])
	require.Equal(t, "phase", got["lock_contention_high"].Data["lock"])
	require.Equal(t, 91.5, got["gpu_hot"].Data["value"])
	require.Equal(t, map[string]int{"text/plain": ep.contentTypes()["text/plain"]}, ep.contentTypes(),
		"with OpenMetrics enabled, client_golang answers our Accept in the text format")
}

func TestScrapeClientGolangAnsweringOpenMetricsAnyway(t *testing.T) {
	ep := newClientGolangEndpoint(true)
	// The body really is OpenMetrics with what expfmt's text parser rejects.
	srv := httptest.NewServer(ep)
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	for _, s := range []string{"# EOF", `# {trace_id="4bf92f3577b34da6"} 100.0 `, "# UNIT kloros_gpu_temperature_celsius celsius",
		"kloros_orchestrator_lock_contention_created{", "kloros_request_seconds_created "} {
		require.Contains(t, string(body), s)
	}
	dec := expfmt.NewDecoder(strings.NewReader(string(body)), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for err == nil {
		err = dec.Decode(&dto.MetricFamily{})
	}
	require.ErrorContains(t, err, "expected integer as timestamp", "expfmt reads OpenMetrics with its text parser and fails on exemplars; if this passes, omToText may be unneeded")

	got := scrapeClientGolang(t, ep)
	require.Equal(t, 25.0, got["lock_contention_high"].Data["value"], "the counter with an exemplar is read")
	require.Equal(t, 91.5, got["gpu_hot"].Data["value"], "the family with a UNIT is read")
	require.Equal(t, 1.0, got["requests_seen"].Data["value"], "the histogram with an exemplar and _created is read")
	require.Zero(t, ep.contentTypes()["text/plain"])
}

func TestOMToTextLines(t *testing.T) {
	for in, want := range map[string]string{
		"a_total{l=\"x\"} 2.0 # {trace_id=\"a b\"} 1.0 1.7e9\n": "a_total{l=\"x\"} 2.0\n",
		"a_total 2.0 1712345678.123\n":                          "a_total 2.0\n",
		"a{l=\"} # {\\\"x\"} 3 # {t=\"1\"} 1\n":                 "a{l=\"} # {\\\"x\"} 3\n",
		"a{l=\"v\"}\t4\n":                                       "a{l=\"v\"} 4\n",
		"# TYPE s stateset\n":                                   "# TYPE s untyped\n",
		"# TYPE i info\n":                                       "# TYPE i untyped\n",
		"# TYPE g gaugehistogram\n":                             "# TYPE g gaugehistogram\n",
		"# UNIT t_celsius celsius\n":                            "# UNIT t_celsius celsius\n",
		"# HELP a a # {x} help\n":                               "# HELP a a # {x} help\n",
	} {
		out, eof := omLine([]byte(in))
		require.False(t, eof)
		require.Equal(t, want, string(out), in)
	}
	_, eof := omLine([]byte("# EOF\n"))
	require.True(t, eof)
	b, err := io.ReadAll(newOMToText(strings.NewReader("# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\ngarbage after EOF\n")))
	require.NoError(t, err)
	require.Equal(t, "# TYPE a gauge\na 1\n", string(b), "# EOF ends the body")
}
