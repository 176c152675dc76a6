package scrape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/messages"

	"github.com/asynkron/protoactor-go/actor"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/kloros/kloros-observer/actors/timer"
)

// Source scrapes one Prometheus endpoint every Interval and turns
// threshold crossings into events (SPEC §2.1, metrics row).
//
// The request runs in a goroutine the actor owns (one at a time: a tick that
// finds a scrape still running is skipped and counted), preferring the text
// format over OpenMetrics 1.0 (see acceptHeader), bounded by Timeout and MaxBodyBytes.
// Its result comes back as a message. A down, slow, garbage-returning,
// wrong-content-type or oversized endpoint is counted by reason, logged once
// per state change (up→down, down→up, or a new reason) and retried on the
// next tick — never a crash or a stall. Checks fire when a series crosses its
// threshold and not again until it went back under (a counter past its
// threshold does not fire forever, as the seed's did).
//
// Receives: its tick, the scrape goroutine's result. Sends: *messages.Event
// (or an EventBatch) to the dispatcher. Releases the timer and cancels and
// waits for an in-flight scrape on Stopping and Restarting.
type Source struct {
	cfg   SourceConfig
	deps  actors.Deps
	log   *slog.Logger
	label string

	client   *http.Client
	checker  *checker
	wanted   map[string]bool // families the checks read (see lineFilter)
	stop     timer.Cancel
	base     context.Context // cancelled on stop: ends an in-flight scrape
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inflight bool
	state    string // "" (unknown), "up", or the failure reason
	fellBack bool   // the fallback to the text format was logged
}

type scrapeTick struct{}
type scrapeResult struct {
	series   map[string][]series
	reason   string // "" on success
	err      error
	duration time.Duration
	at       time.Time
	fallback string // the Content-Type read as text by fallback ("" if none)
}

// New returns the source's producer.
func New(cfg SourceConfig, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &Source{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (s *Source) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.label = strconv.Itoa(s.cfg.Index)
		s.log = s.deps.Logger.With("actor", "sources/scrape:"+s.label, "endpoint", s.cfg.Endpoint)
		if s.cfg.Timeout <= 0 {
			s.cfg.Timeout = DefaultScrapeTimeout(s.cfg.Interval)
		}
		s.client = &http.Client{Timeout: s.cfg.Timeout}
		s.checker = newChecker(s.cfg.Checks)
		s.wanted = wantedNames(s.cfg.Checks)
		s.base, s.cancel = context.WithCancel(context.Background())
		s.stop = timer.Every(ctx.ActorSystem(), 0, s.cfg.Interval, ctx.Self(), scrapeTick{})
	case *actor.Stopping, *actor.Restarting:
		if s.stop != nil {
			s.stop()
			s.stop = nil
		}
		if s.cancel != nil {
			s.cancel()
			s.wg.Wait()
			s.cancel = nil
		}
	case scrapeTick:
		if s.inflight {
			s.deps.Metrics.Scrape.Skipped.WithLabelValues(s.label).Inc()
			return
		}
		s.inflight = true
		root, self := ctx.ActorSystem().Root, ctx.Self()
		rctx, cancel := context.WithTimeout(s.base, s.cfg.Timeout)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer cancel()
			defer actors.Recover("scrape", func(f *actors.GoroutineFailed) { root.Send(self, f) })
			root.Send(self, s.scrape(rctx))
		}()
	case *scrapeResult:
		s.inflight = false
		s.handle(ctx, m)
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(s.log, m)
	}
}

// acceptHeader asks for the Prometheus text format first and OpenMetrics 1.0
// only after it. expfmt (v0.72) has no OpenMetrics parser: it reads
// OpenMetrics with the text parser, which fails on exemplars and on
// timestamps in seconds — exactly what client_golang sends once
// EnableOpenMetrics is on. Preferring text gets such endpoints to answer in
// the format we parse natively; an endpoint that answers OpenMetrics anyway is
// read through omToText.
const acceptHeader = "text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// scrape runs on the goroutine: fetch, limit, decode. It never touches the
// actor's fields except the immutable config and metrics.
func (s *Source) scrape(ctx context.Context) *scrapeResult {
	start := time.Now()
	res := &scrapeResult{at: start}
	defer func() { res.duration = time.Since(start) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.Endpoint, nil)
	if err != nil {
		res.reason, res.err = "request", err
		return res
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := s.client.Do(req)
	if err != nil {
		res.reason, res.err = "connect", err
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			res.reason = "timeout"
		}
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		res.reason, res.err = "status", fmt.Errorf("HTTP %s", resp.Status)
		return res
	}
	counted := &countingReader{r: io.LimitReader(resp.Body, s.cfg.MaxBodyBytes+1)}
	var in io.Reader = counted
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "text/plain" && (params["version"] == "" || params["version"] == expfmt.TextVersion):
	case mt == "application/openmetrics-text" && (params["version"] == "" || params["version"] == expfmt.OpenMetricsVersion_1_0_0):
		in = newOMToText(counted)
	case s.cfg.FallbackProtocol == FallbackText:
		// What Prometheus 2 did, and Prometheus 3's fallback_scrape_protocol:
		// a static file server's application/octet-stream (or nothing) is
		// read as the text format. The actor says so once per endpoint.
		res.fallback = resp.Header.Get("Content-Type")
		if res.fallback == "" {
			res.fallback = "(none)"
		}
	default:
		res.reason, res.err = "content_type", fmt.Errorf("unsupported Content-Type %q (scrape.fallback_protocol is none)", resp.Header.Get("Content-Type"))
		return res
	}
	filtered := newLineFilter(in, s.wanted)
	dec := expfmt.NewDecoder(filtered, expfmt.NewFormat(expfmt.TypeTextPlain))
	res.series = map[string][]series{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if counted.n > s.cfg.MaxBodyBytes {
				res.reason, res.err = "too_large", fmt.Errorf("body larger than %d bytes", s.cfg.MaxBodyBytes)
			} else if ctx.Err() != nil {
				res.reason, res.err = "timeout", ctx.Err()
			} else {
				res.reason, res.err = "parse", err
			}
			res.series = nil
			return res
		}
		addFamily(res.series, &mf)
	}
	if counted.n > s.cfg.MaxBodyBytes {
		res.reason, res.err, res.series = "too_large", fmt.Errorf("body larger than %d bytes", s.cfg.MaxBodyBytes), nil
	}
	return res
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// addFamily flattens a family into series: gauges, counters and untyped by
// name (a counter also under name_total, as OpenMetrics names it);
// histograms and summaries as name_sum and name_count.
func addFamily(out map[string][]series, mf *dto.MetricFamily) {
	name := mf.GetName()
	for _, m := range mf.GetMetric() {
		labels := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		add := func(n string, v float64) { out[n] = append(out[n], series{name: n, labels: labels, value: v}) }
		switch {
		case m.Gauge != nil:
			add(name, m.GetGauge().GetValue())
		case m.Counter != nil:
			add(name, m.GetCounter().GetValue())
			if len(name) < 6 || name[len(name)-6:] != "_total" {
				add(name+"_total", m.GetCounter().GetValue())
			}
		case m.Untyped != nil:
			add(name, m.GetUntyped().GetValue())
		case m.Histogram != nil:
			add(name+"_sum", m.GetHistogram().GetSampleSum())
			add(name+"_count", float64(m.GetHistogram().GetSampleCount()))
		case m.Summary != nil:
			add(name+"_sum", m.GetSummary().GetSampleSum())
			add(name+"_count", float64(m.GetSummary().GetSampleCount()))
		}
	}
}

func (s *Source) handle(ctx actor.Context, r *scrapeResult) {
	m := s.deps.Metrics.Scrape
	m.Duration.WithLabelValues(s.label).Observe(r.duration.Seconds())
	result := r.reason
	if result == "" {
		result = "ok"
	}
	m.Scrapes.WithLabelValues(s.label, result).Inc()
	if r.reason != "" {
		m.Up.WithLabelValues(s.label).Set(0)
		if s.state != r.reason {
			s.log.Warn("scrape failing; retrying every interval", "reason", r.reason, "err", r.err,
				"interval_seconds", s.cfg.Interval.Seconds())
			s.state = r.reason
			s.deps.Stream.Publish(&messages.SourceObserved{At: r.at, Source: "scrape", Target: s.cfg.Endpoint, Healthy: false,
				Detail: fmt.Sprintf("%s: %v", r.reason, r.err)})
		}
		return
	}
	m.Up.WithLabelValues(s.label).Set(1)
	if r.fallback != "" && !s.fellBack {
		s.fellBack = true
		s.log.Info("endpoint does not say it serves Prometheus metrics; parsing its body as the text format (scrape.fallback_protocol: text)",
			"content_type", r.fallback)
	}
	if s.state != "up" {
		if s.state != "" {
			s.log.Info("scrape recovered")
		}
		s.state = "up"
		s.deps.Stream.Publish(&messages.SourceObserved{At: r.at, Source: "scrape", Target: s.cfg.Endpoint, Healthy: true, Detail: "up"})
	}
	events, over := s.checker.evaluate(r.series, r.at)
	for name, n := range over {
		m.Firing.WithLabelValues(s.label, name).Set(float64(n))
	}
	for _, ev := range events {
		ctx.Send(s.cfg.Dispatcher, ev)
	}
}

// DefaultScrapeTimeout is the timeout used when none is configured: ¾ of the
// interval, at most 10 s, so a hanging endpoint is cut off before the next
// tick and scrapes never queue up behind it.
func DefaultScrapeTimeout(interval time.Duration) time.Duration {
	return min(interval*3/4, 10*time.Second)
}
