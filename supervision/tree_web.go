package supervision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kloros/kloros-observer/actors/heartbeat"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/actors/rules"
	"github.com/kloros/kloros-observer/actors/web"
	"github.com/kloros/kloros-observer/messages"
)

// webParts is what the HTTP actor and the heartbeat registry share, made
// once per tree: the silences (the registry enforces them, the API changes
// them), the registry's View (the API reads it), and the page's Feed,
// subscribed to the stream before any producer starts.
type webParts struct {
	silences *silence.Store
	view     *heartbeat.View
	feed     *web.Feed
	root     *ChildSpec
}

// silenceStore opens <state-dir>/heartbeat/silences.json once. A store that
// cannot be read is a start-up error: dropping an operator's silences
// without a word would page people.
func (b *Builder) silenceStore() (*silence.Store, error) {
	if b.web.silences == nil {
		path := filepath.Join(b.Config.StateDir, "heartbeat", "silences.json")
		st, err := silence.Open(path, b.Deps.Clock.Now)
		if err != nil {
			return nil, &FieldError{Field: "state_dir", Value: b.Config.StateDir, Why: err.Error()}
		}
		b.web.silences = st
	}
	return b.web.silences, nil
}

func (b *Builder) zooidView() *heartbeat.View {
	if b.web.view == nil {
		b.web.view = heartbeat.NewView()
	}
	return b.web.view
}

// webSpecs declares the HTTP actor: the dashboard, the /api/v1 query API
// and live stream, /metrics, /healthz and /readyz.
func webSpecs(b *Builder) ([]ChildSpec, error) {
	c := b.Config
	if !c.HTTP.Enabled {
		return nil, nil
	}
	feed := web.NewFeed(web.FeedConfig{EventRing: c.HTTP.EventRing, IntentRing: c.HTTP.IntentRing,
		Heartbeats: b.heartbeatsTotal, Events: b.eventsTotal, Now: b.Deps.Clock.Now, Logger: b.Deps.Logger.With("actor", "http")})
	feed.Subscribe(b.Deps.Stream)
	b.web.feed = feed
	hcfg := c.HTTP.History
	hcfg.Path = filepath.Join(c.StateDir, "heartbeat", "history.jsonl")
	o := web.Options{Config: c.HTTP, IntentsDir: c.IntentsDir, Version: Version(), Started: b.Deps.Clock.Now(),
		Rules: &rulesAdapter{live: b.rulesLive(), root: b.System.Root}, Tree: treeAdapter{b}, Sources: sourcesAdapter{b}, ChemBusEnabled: c.ChemBus.Enabled,
		Ready: func() error {
			if b.Ready != nil && !b.Ready.Load() {
				return fmt.Errorf("the supervision tree is still starting")
			}
			if why := b.emitHealth().NotReady(); why != "" {
				return errors.New(why) // an intent written now would not land
			}
			if err := web.ProbeWritable(c.IntentsDir); err != nil {
				return fmt.Errorf("intents directory not writable: %w", err)
			}
			return nil
		}}
	if b.Deps.Metrics != nil {
		o.Metrics = web.MetricsHandler(b.Deps.Metrics.Registry)
	}
	o.Handlers = chaosHandlers(b) // none in a normal build
	// POST /-/reload reloads the rules as SIGHUP does for them (the
	// manager checks the whole new set first; a bad one keeps the old).
	o.Reload = func() error {
		res, err := b.System.Root.RequestFuture(b.PID("rules"), &messages.ReloadRules{Reason: "POST /-/reload"}, 30*time.Second).Result()
		if err != nil {
			return fmt.Errorf("the rules manager did not answer: %w", err)
		}
		if r, ok := res.(*messages.ReloadRulesResult); ok && !r.OK {
			return errors.New(r.Err)
		}
		return nil
	}
	if c.ChemBus.Enabled {
		st, err := b.silenceStore()
		if err != nil {
			return nil, err
		}
		o.Silences = st
		o.Zooids = zooidsAdapter{view: b.zooidView(), root: b.System.Root, registry: b.PID("zooids")}
	}
	return []ChildSpec{b.Leaf("http", PhaseSupport, 0, "dashboard, /api/v1, /metrics, /healthz, /readyz on "+c.HTTP.Listen,
		web.NewHTTP(web.ActorConfig{Options: o, Feed: feed, History: &hcfg}, b.Deps))}, nil
}

// heartbeatsTotal reads the HEARTBEATs received so far (the page's
// heartbeats/s chart).
func (b *Builder) heartbeatsTotal() float64 {
	if b.Deps.Metrics == nil {
		return 0
	}
	var m dto.Metric
	if err := b.Deps.Metrics.ChemBus.Received.WithLabelValues(messages.TopicHeartbeat).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// eventsTotal sums the events the sources produced (the page's events/s
// chart), read once a second.
func (b *Builder) eventsTotal() float64 {
	if b.Deps.Metrics == nil {
		return 0
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { b.Deps.Metrics.Core.Events.Collect(ch); close(ch) }()
	total := 0.0
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil {
			total += d.GetCounter().GetValue()
		}
	}
	return total
}

// zooidsAdapter is web.Zooids over the heartbeat registry: snapshots from
// its View (no message to the actor), forget through a request future.
type zooidsAdapter struct {
	view     *heartbeat.View
	root     *actor.RootContext
	registry *actor.PID
}

func (a zooidsAdapter) Zooids() []web.Zooid {
	zs := a.view.Zooids()
	out := make([]web.Zooid, len(zs))
	for i, z := range zs {
		out[i] = web.Zooid{Name: z.Name, Niche: z.Niche, State: z.State, LastSeen: z.LastSeen, Threshold: z.Threshold,
			Incident: z.Incident, SilentSince: z.SilentSince}
	}
	return out
}

func (a zooidsAdapter) Forget(name string) (bool, error) {
	res, err := a.root.RequestFuture(a.registry, &messages.ForgetZooidRequest{Zooid: name}, 5*time.Second).Result()
	if err != nil {
		return false, fmt.Errorf("the zooid registry did not answer: %w", err)
	}
	r, ok := res.(*messages.ForgetZooidResponse)
	if !ok {
		return false, fmt.Errorf("the zooid registry answered %T", res)
	}
	return r.Known, nil
}

// rulesAdapter lists the running rules (after any reload), the event types
// each takes, and each rule's live state (windows, cooldowns, per-group last
// firing), asked of the rule actors themselves.
type rulesAdapter struct {
	live *rules.Live
	root *actor.RootContext
}

func (a *rulesAdapter) Rules() []web.Rule {
	set, pids := a.live.Current()
	if set == nil {
		return nil
	}
	states := map[string]map[string]any{}
	collected, _ := rules.Collect(a.root, pids, time.Second) // a rule that does not answer is shown without state
	for _, st := range collected {
		var v map[string]any
		if json.Unmarshal(st.State, &v) == nil {
			states[st.Name] = v
		}
	}
	var out []web.Rule
	for _, r := range set.Rules() {
		wr := web.Rule{Name: r.Name(), On: r.Subscribes()}
		if st, ok := states[r.Name()]; ok {
			wr.State = st
		}
		out = append(out, wr)
	}
	return out
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// treeAdapter lists the tree's actors with their mailbox depth (by actor
// kind, as the mailboxes count it); the web adds restarts and failures from
// the stream.
type treeAdapter struct{ b *Builder }

func (a treeAdapter) Actors() []web.Actor {
	var out []web.Actor
	var walk func(prefix string, s *ChildSpec)
	walk = func(prefix string, s *ChildSpec) {
		for i := range s.Children {
			c := &s.Children[i]
			p := c.Name
			if prefix != "" {
				p = prefix + "/" + c.Name
			}
			kind := KindOf(c.Name)
			out = append(out, web.Actor{Path: p, Kind: kind, MailboxDepth: int(a.b.Mailboxes.Depth(kind))})
			walk(p, c)
		}
	}
	if a.b.web.root != nil {
		walk("", a.b.web.root)
	}
	return out
}

// sourcesAdapter adds what the sources' metrics say to the health they
// report on the stream: the journal's lag per source, each scrape endpoint's
// up, the file-watch source's watched and pending paths.
type sourcesAdapter struct{ b *Builder }

// gaugeValues reads a gauge vector: label value of label -> value.
func gaugeValues(c prometheus.Collector, label string) map[string]float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		for _, lp := range d.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] = d.GetGauge().GetValue()
			}
		}
	}
	return out
}

func gaugeValue(g prometheus.Gauge) float64 {
	var d dto.Metric
	_ = g.Write(&d)
	return d.GetGauge().GetValue()
}

func (a sourcesAdapter) Sources() []web.Source {
	c, m := a.b.Config, a.b.Deps.Metrics
	if m == nil {
		return nil
	}
	var out []web.Source
	if c.FSWatch.Enabled {
		out = append(out, web.Source{Source: "fswatch", Target: strings.Join(c.FSWatch.Paths, ", "), Healthy: true,
			Extra: map[string]any{"watched_directories": gaugeValue(m.FSWatch.Watches), "pending_paths": gaugeValue(m.FSWatch.Pending)}})
	}
	if c.Journald.Enabled {
		for name, age := range gaugeValues(m.Journald.LastAge, "source") {
			out = append(out, web.Source{Source: "journald", Target: name, Healthy: true,
				Extra: map[string]any{"last_entry_age_seconds": age}})
		}
	}
	if c.Scrape.Enabled {
		up := gaugeValues(m.Scrape.Up, "endpoint")
		for i, e := range c.Scrape.Endpoints {
			v, seen := up[strconv.Itoa(i)]
			src := web.Source{Source: "scrape", Target: e, Healthy: v == 1, Extra: map[string]any{"endpoint": i}}
			if !seen {
				src.Healthy, src.Detail = true, "not scraped yet"
			}
			out = append(out, src)
		}
	}
	return out
}
