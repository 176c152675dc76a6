package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/heartbeat/history"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

// registry is an in-memory Zooids for API tests (the daemon's adapter over
// the heartbeat registry is tested with the registry itself).
type registry struct {
	mu sync.Mutex
	zs map[string]Zooid
}

func newRegistry(zs ...Zooid) *registry {
	r := &registry{zs: map[string]Zooid{}}
	for _, z := range zs {
		r.zs[z.Name] = z
	}
	return r
}

func (r *registry) Zooids() []Zooid {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Zooid, 0, len(r.zs))
	for _, z := range r.zs {
		out = append(out, z)
	}
	return out
}

func (r *registry) Forget(name string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.zs[name]
	delete(r.zs, name)
	return ok, nil
}

type fixture struct {
	srv      *Server
	ts       *httptest.Server
	stream   *observe.Stream
	feed     *Feed
	reg      *registry
	silences *silence.Store
	hist     *history.Log
	intents  string
	opts     Options
}

func newFixture(t *testing.T, mod func(*Options), zs ...Zooid) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{stream: observe.New(nil), reg: newRegistry(zs...), intents: filepath.Join(dir, "intents")}
	require.NoError(t, os.MkdirAll(f.intents, 0o700))
	var err error
	f.silences, err = silence.Open(filepath.Join(dir, "heartbeat", "silences.json"), nil)
	require.NoError(t, err)
	f.hist, err = history.Open(history.Config{Path: filepath.Join(dir, "heartbeat", "history.jsonl")}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { f.hist.Close() })
	f.feed = NewFeed(FeedConfig{EventRing: 100, IntentRing: 100, History: f.hist})
	f.feed.Start(f.stream)
	t.Cleanup(f.feed.Close)
	f.opts = Options{Config: DefaultHTTPConfig(), Stream: f.stream, Feed: f.feed, Zooids: f.reg, Silences: f.silences,
		History: f.hist, IntentsDir: f.intents, Version: "test"}
	if mod != nil {
		mod(&f.opts)
	}
	f.srv, err = New(f.opts)
	require.NoError(t, err)
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string, want int) map[string]any {
	t.Helper()
	resp, err := http.Get(f.ts.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, want, resp.StatusCode, "GET %s: %s", path, b)
	var v map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	}
	return v
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr map[string]string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, b)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	return v
}

func names(v map[string]any) []string {
	var out []string
	for _, z := range v["zooids"].([]any) {
		out = append(out, z.(map[string]any)["name"].(string))
	}
	return out
}

var now0 = time.Now()

func colony() []Zooid {
	return []Zooid{
		{Name: "gpu-0", Niche: "gpu", State: StateAlive, LastSeen: now0, Threshold: 30 * time.Second},
		{Name: "gpu-1", Niche: "gpu", State: StateSilent, LastSeen: now0.Add(-time.Minute), Threshold: 30 * time.Second,
			Incident: "hbgap-1", SilentSince: now0.Add(-30 * time.Second)},
		{Name: "io-0", Niche: "io", State: StateGrace, LastSeen: now0.Add(-time.Hour), Threshold: time.Minute},
		{Name: "odd/name ü", Niche: "io", State: StateAlive, LastSeen: now0, Threshold: time.Minute},
	}
}

func TestAPIZooids(t *testing.T) {
	f := newFixture(t, nil, colony()...)
	v := f.get(t, "/api/v1/zooids", 200)
	require.Equal(t, []string{"gpu-0", "gpu-1", "io-0", "odd/name ü"}, names(v))
	require.EqualValues(t, 2, v["counts"].(map[string]any)["alive"])
	require.EqualValues(t, 1, v["niches"].(map[string]any)["gpu"].(map[string]any)["silent"])
	z := v["zooids"].([]any)[1].(map[string]any)
	require.Equal(t, "silent", z["state"])
	require.Equal(t, "hbgap-1", z["incident_id"])
	require.EqualValues(t, 30, z["threshold_seconds"])
	require.Contains(t, z["availability"], "24h")

	require.Equal(t, []string{"gpu-1"}, names(f.get(t, "/api/v1/zooids?state=silent", 200)))
	require.Equal(t, []string{"gpu-1", "io-0"}, names(f.get(t, "/api/v1/zooids?state=silent,restored-grace", 200)))
	require.Equal(t, []string{"io-0", "odd/name ü"}, names(f.get(t, "/api/v1/zooids?niche=io", 200)))
	require.Equal(t, []string{"gpu-0", "gpu-1"}, names(f.get(t, "/api/v1/zooids?q=GPU", 200)))
	v = f.get(t, "/api/v1/zooids?limit=2&offset=1", 200)
	require.Equal(t, []string{"gpu-1", "io-0"}, names(v))
	require.EqualValues(t, 4, v["total"])
	require.Empty(t, names(f.get(t, "/api/v1/zooids?offset=10", 200)))
	require.Equal(t, "gpu-1", names(f.get(t, "/api/v1/zooids?sort=state", 200))[0])

	for q, field := range map[string]string{
		"limit=0": "limit", "limit=100001": "limit", "limit=x": "limit", "offset=-1": "offset",
		"state=dead": "state", "sort=size": "sort", "bogus=1": "bogus", "limit=1&limit=2": "limit",
		"q=" + strings.Repeat("a", 300): "q",
	} {
		e := f.get(t, "/api/v1/zooids?"+q, 400)
		require.Equal(t, field, e["field"], q)
		require.NotEmpty(t, e["error"])
	}
}

func TestAPIZooidDetailAndForget(t *testing.T) {
	f := newFixture(t, nil, colony()...)
	// History: gpu-1 went down a minute ago (real history fed through the stream).
	f.stream.Publish(&messages.GapObserved{At: now0.Add(-30 * time.Second), Change: messages.GapOpened, Zooid: "gpu-1",
		Niche: "gpu", IncidentID: "hbgap-1", LastSeen: now0.Add(-time.Minute)})
	require.Eventually(t, func() bool { return len(f.hist.Episodes("gpu-1")) == 1 }, 5*time.Second, 5*time.Millisecond)

	v := f.get(t, "/api/v1/zooids/gpu-1", 200)
	require.Equal(t, "silent", v["state"])
	eps := v["episodes"].([]any)
	require.Len(t, eps, 1)
	require.Equal(t, true, eps[0].(map[string]any)["open"])
	require.Len(t, v["bars_24h"], 24)
	require.Len(t, v["bars_7d"], 28)
	av := v["availability"].(map[string]any)
	require.Less(t, av["1h"].(float64), 1.0)

	require.Equal(t, "odd/name ü", f.get(t, "/api/v1/zooids/"+url.PathEscape("odd/name ü"), 200)["name"])
	require.Equal(t, "name", f.get(t, "/api/v1/zooids/nope", 404)["field"])
	f.get(t, "/api/v1/zooids/gpu-1?x=1", 400)

	f.do(t, "POST", "/api/v1/zooids/gpu-1/forget", "", nil, 200)
	f.get(t, "/api/v1/zooids/gpu-1", 404)
	require.Empty(t, f.hist.Episodes("gpu-1"))
	f.do(t, "POST", "/api/v1/zooids/gpu-1/forget", "", nil, 404)
	f.do(t, "GET", "/api/v1/zooids/gpu-0/forget", "", nil, 404) // writes are POST
}

func TestAPISilences(t *testing.T) {
	f := newFixture(t, nil, colony()...)
	v := f.do(t, "POST", "/api/v1/silences", `{"niche":"gpu","duration":"2h","comment":"maintenance"}`, nil, 201)
	id := v["id"].(string)
	require.Equal(t, "active", v["state"])
	require.Equal(t, "loopback", v["created_by"])

	z := f.get(t, "/api/v1/zooids?niche=gpu", 200)
	require.EqualValues(t, 2, z["counts"].(map[string]any)["silenced"])
	first := z["zooids"].([]any)[0].(map[string]any)
	require.Equal(t, "silenced", first["state"])
	require.Equal(t, id, first["silenced_by"].(map[string]any)["id"])

	require.Len(t, f.get(t, "/api/v1/silences", 200)["silences"], 1)
	require.Len(t, f.get(t, "/api/v1/silences?state=expired", 200)["silences"], 0)
	f.get(t, "/api/v1/silences?state=maybe", 400)

	for body, field := range map[string]string{
		`{"pattern":"gpu-(","duration":"1h"}`:                          "pattern",
		`{"zooid":"a","duration":"soon"}`:                              "duration",
		`{"zooid":"a","duration":"-5"}`:                                "duration",
		`{"zooid":"a"}`:                                                "until",
		`{"zooid":"a","until":"2001-01-01T00:00:00Z"}`:                 "until",
		`{"duration":"1h"}`:                                            "zooid",
		`{"zooid":"a","duration":"1h","colour":"red"}`:                 "colour",
		`{"zooid":1,"duration":"1h"}`:                                  "zooid",
		`{"zooid":"a","duration":"1h","until":"2099-01-01T00:00:00Z"}`: "duration",
	} {
		e := f.do(t, "POST", "/api/v1/silences", body, nil, 400)
		require.Equal(t, field, e["field"], "%s: %v", body, e)
	}
	f.do(t, "POST", "/api/v1/silences", `{not json`, nil, 400)
	big := `{"zooid":"a","duration":"1h","comment":"` + strings.Repeat("x", 70<<10) + `"}`
	f.do(t, "POST", "/api/v1/silences", big, nil, 413)
	req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/silences", strings.NewReader(`zooid=a`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 415, resp.StatusCode)

	v = f.do(t, "DELETE", "/api/v1/silences/"+id, "", nil, 200)
	require.Equal(t, "expired", v["state"])
	require.EqualValues(t, 0, f.get(t, "/api/v1/zooids", 200)["counts"].(map[string]any)["silenced"])
	require.Equal(t, "id", f.do(t, "DELETE", "/api/v1/silences/nope", "", nil, 404)["field"])
}

func TestAPIWritesNeedSameOriginLoopback(t *testing.T) {
	reloaded := 0
	f := newFixture(t, func(o *Options) { o.Reload = func() error { reloaded++; return nil } }, colony()...)
	body := `{"zooid":"gpu-0","duration":"1h"}`
	host := strings.TrimPrefix(f.ts.URL, "http://")
	f.do(t, "POST", "/api/v1/silences", body, map[string]string{"Origin": "http://" + host}, 201)
	f.do(t, "POST", "/api/v1/silences", body, map[string]string{"Origin": "http://evil.example"}, 403)
	f.do(t, "POST", "/api/v1/silences", body, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403)
	f.do(t, "POST", "/api/v1/silences", body, map[string]string{"Host": "evil.example"}, 403) // DNS rebinding
	f.do(t, "POST", "/-/reload", "", map[string]string{"Origin": "null"}, 403)
	f.do(t, "POST", "/-/reload", "", nil, 200)
	require.Equal(t, 1, reloaded)
	f.do(t, "POST", "/api/v1/zooids/gpu-0/forget", "", map[string]string{"Origin": "http://evil.example"}, 403)
	f.get(t, "/api/v1/zooids/gpu-0", 200)

	// On a non-loopback listener without a web config, every write is refused.
	f.srv.SetLoopback(false)
	e := f.do(t, "POST", "/api/v1/silences", body, nil, 403)
	require.Contains(t, e["error"], "web.config.file")
	f.do(t, "DELETE", "/api/v1/silences/x", "", nil, 403)
	f.do(t, "POST", "/-/reload", "", nil, 403)
	require.Equal(t, 1, reloaded)
	f.get(t, "/api/v1/zooids", 200) // reads stay open
	st := f.get(t, "/api/v1/status", 200)
	require.Equal(t, false, st["writes_allowed"])
}

func TestAPIReloadAndReadiness(t *testing.T) {
	var busErr error
	f := newFixture(t, func(o *Options) {
		o.ChemBus = func() error { return busErr }
		o.Reload = func() error { return fmt.Errorf("rules.yaml:3:4: bad") }
	})
	f.do(t, "POST", "/-/reload", "", nil, 500)
	resp, err := http.Get(f.ts.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	busErr = fmt.Errorf("no proxy at tcp://127.0.0.1:5559")
	resp, err = http.Get(f.ts.URL + "/readyz")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode)
	require.Contains(t, string(b), "chembus not reachable")
	st := f.get(t, "/api/v1/status", 200)
	require.Equal(t, false, st["ready"])
	require.Contains(t, st["not_ready"], "chembus")

	g := newFixture(t, nil)
	g.do(t, "POST", "/-/reload", "", nil, 501)
	resp, err = http.Get(g.ts.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
}

func TestAPIEventsIntentsRulesSourcesTree(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Rules = rulesFunc(func() []Rule {
			return []Rule{{Name: "promotion_cluster", IntentType: "trigger_phase_promotion_cluster", Priority: 7,
				State: map[string]any{"window_count": 2}}}
		})
		o.Tree = treeFunc(func() []Actor { return []Actor{{Path: "dispatcher", MailboxDepth: 3}} })
	})
	at := time.Now()
	f.stream.Publish(&messages.EventsObserved{At: at, Events: []messages.ObservedEvent{
		{Event: &messages.Event{Source: "inotify", Type: "promotion_new", TS: at, Data: map[string]any{"path": "/p/a.json"}}},
		{Event: &messages.Event{Source: "inotify", Type: "promotion_new", TS: at, Data: map[string]any{"path": "/p/a.json"}}, Duplicate: true},
		{Event: &messages.Event{Source: "metrics", Type: "phase_duration_high", TS: at, Data: map[string]any{"value": 7300.5}}},
	}})
	f.stream.Publish(&messages.IntentObserved{At: at, Outcome: messages.IntentOutcomeWritten, Type: "alert_gpu_oom", Priority: 9,
		Path: filepath.Join(f.intents, "1_alert_gpu_oom_abcdef01.json")})
	f.stream.Publish(&messages.IntentObserved{At: at, Outcome: messages.IntentOutcomeDeduplicated, Type: "alert_gpu_oom", Priority: 9})
	f.stream.Publish(&messages.RuleFired{At: at, Rule: "gpu_oom", IntentType: "alert_gpu_oom", Priority: 9, Reason: "oom"})
	f.stream.Publish(&messages.SourceObserved{At: at, Source: "scrape", Target: "http://localhost:9090/metrics", Healthy: false, Detail: "connection refused"})
	f.stream.Publish(&messages.ActorObserved{At: at, Change: messages.ActorRestarted, Actor: "sources/journald_units", Reason: "boom"})
	require.Eventually(t, func() bool {
		return len(f.feed.Events(10, nil)) == 3 && len(f.feed.Sources()) == 1 && len(f.feed.actorStats()) == 1
	},
		5*time.Second, 5*time.Millisecond)

	ev := f.get(t, "/api/v1/events", 200)["events"].([]any)
	require.Len(t, ev, 3)
	require.Equal(t, "phase_duration_high", ev[0].(map[string]any)["type"], "newest first")
	require.Len(t, f.get(t, "/api/v1/events?type=promotion_new", 200)["events"], 2)
	require.Len(t, f.get(t, "/api/v1/events?type=promotion_new&duplicate=true", 200)["events"], 1)
	require.Len(t, f.get(t, "/api/v1/events?source=metrics,journald", 200)["events"], 1)
	require.Len(t, f.get(t, "/api/v1/events?limit=1", 200)["events"], 1)
	f.get(t, "/api/v1/events?limit=0", 400)
	f.get(t, "/api/v1/events?duplicate=maybe", 400)

	in := f.get(t, "/api/v1/intents", 200)["intents"].([]any)
	require.Len(t, in, 2)
	require.Equal(t, "1_alert_gpu_oom_abcdef01.json", in[1].(map[string]any)["file"], "base name only")
	require.Len(t, f.get(t, "/api/v1/intents?outcome=written", 200)["intents"], 1)
	f.get(t, "/api/v1/intents?outcome=lost", 400)

	rules := f.get(t, "/api/v1/rules", 200)["rules"].([]any)
	require.Len(t, rules, 2)
	require.Equal(t, "gpu_oom", rules[0].(map[string]any)["name"])
	require.EqualValues(t, 1, rules[0].(map[string]any)["fired"])
	require.EqualValues(t, 2, rules[1].(map[string]any)["state"].(map[string]any)["window_count"])

	src := f.get(t, "/api/v1/sources", 200)["sources"].([]any)
	require.Equal(t, false, src[0].(map[string]any)["healthy"])
	require.EqualValues(t, 1, f.get(t, "/api/v1/status", 200)["sources_down"])

	tree := f.get(t, "/api/v1/tree", 200)["actors"].([]any)
	require.Len(t, tree, 2)
	require.EqualValues(t, 3, tree[0].(map[string]any)["mailbox_depth"])
	require.EqualValues(t, 1, tree[1].(map[string]any)["restarts"])

	r := f.get(t, "/api/v1/rates?step=60", 200)
	require.Len(t, r["events_per_second"], 60)
	f.get(t, "/api/v1/rates?step=7", 400)
	f.get(t, "/api/v1/rates?step=0", 400)
	require.Contains(t, f.get(t, "/api/v1/nothing", 404)["error"], "no such endpoint")
}

type rulesFunc func() []Rule

func (f rulesFunc) Rules() []Rule { return f() }

type treeFunc func() []Actor

func (f treeFunc) Actors() []Actor { return f() }

func TestAPIPendingIntents(t *testing.T) {
	f := newFixture(t, nil)
	enc, err := intentfile.Encode(&messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "oom ü",
		Data: messages.Object{{Key: "n", Value: 1}}, GeneratedAt: time.Now()}, time.Now())
	require.NoError(t, err)
	require.NoError(t, intentfile.CommitBatch(f.intents, []intentfile.File{{Name: enc.Name, Body: enc.Body}})[0])
	bad := "1700000000000_alert_gpu_oom_deadbeef.json"
	require.NoError(t, os.WriteFile(filepath.Join(f.intents, bad), []byte(`{"intent_type":"x","sha256":"00"}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(f.intents, "notes.txt"), []byte("x"), 0o600))
	secret := filepath.Join(t.TempDir(), "secret.json")
	require.NoError(t, os.WriteFile(secret, []byte(`{"secret":true}`), 0o600))
	link := "1700000000001_alert_gpu_oom_0badf00d.json"
	require.NoError(t, os.Symlink(secret, filepath.Join(f.intents, link)))

	p := f.get(t, "/api/v1/intents/pending", 200)
	require.EqualValues(t, 2, p["total"], "regular intent files only")
	pend := p["pending"].([]any)
	require.Equal(t, bad, pend[0].(map[string]any)["name"], "oldest first")
	require.Len(t, f.get(t, "/api/v1/intents/pending?limit=1", 200)["pending"], 1)

	v := f.get(t, "/api/v1/intents/pending/"+enc.Name, 200)
	require.Equal(t, true, v["verified"], "%v", v)
	require.Equal(t, "alert_gpu_oom", v["intent"].(map[string]any)["intent_type"])
	v = f.get(t, "/api/v1/intents/pending/"+bad, 200)
	require.Equal(t, false, v["verified"])
	require.NotEmpty(t, v["verify_error"])

	f.get(t, "/api/v1/intents/pending/"+link, 403) // a symlink out of the directory
	f.get(t, "/api/v1/intents/pending/1700000000002_x_00000000.json", 404)
	for _, n := range []string{"notes.txt", url.PathEscape("../../etc/passwd"), url.PathEscape("1_a_00000000.json/../x")} {
		require.Equal(t, "name", f.get(t, "/api/v1/intents/pending/"+n, 400)["field"], n)
	}
}

func TestAPIPage(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/", "/ui/app.js", "/ui/app.css"} {
		resp, err := http.Get(f.ts.URL + p)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, p)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
		require.NotContains(t, string(b), "https://", "%s: no external asset", p)
	}
	resp, err := http.Get(f.ts.URL + "/ui/../server.go")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, 200, resp.StatusCode)
}

// sseConnect reads SSE events from path until ctx ends.
func sseConnect(t *testing.T, ctx context.Context, base, path string) (<-chan [2]string, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	ch := make(chan [2]string, 1000)
	if resp.StatusCode != 200 {
		resp.Body.Close()
		close(ch)
		return ch, resp.StatusCode
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				ev = l[7:]
			case strings.HasPrefix(l, "data: "):
				ch <- [2]string{ev, l[6:]}
			}
		}
	}()
	return ch, 200
}

func TestAPIStream(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Config.MaxSSEClients = 3 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gaps, code := sseConnect(t, ctx, f.ts.URL, "/api/v1/stream?kind=gap")
	require.Equal(t, 200, code)
	promos, _ := sseConnect(t, ctx, f.ts.URL, "/api/v1/stream?kind=event&type=promotion_new")
	all, _ := sseConnect(t, ctx, f.ts.URL, "/api/v1/stream")
	_, code = sseConnect(t, ctx, f.ts.URL, "/api/v1/stream")
	require.Equal(t, 503, code, "past max_sse_clients")
	require.Eventually(t, func() bool { return len(f.stream.Subscribers()) == 3 }, 5*time.Second, 5*time.Millisecond) // web, web_history, the live-stream hub

	at := time.Now()
	f.stream.Publish(&messages.EventsObserved{At: at, Events: []messages.ObservedEvent{
		{Event: &messages.Event{Source: "inotify", Type: "dream_heartbeat", TS: at}},
		{Event: &messages.Event{Source: "inotify", Type: "promotion_new", TS: at, Data: map[string]any{"path": "/p/x.json"}}},
	}})
	f.stream.Publish(&messages.GapObserved{At: at, Change: messages.GapOpened, Zooid: "z", Niche: "n", IncidentID: "i", LastSeen: at})

	next := func(ch <-chan [2]string) [2]string {
		select {
		case e := <-ch:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no SSE event")
		}
		return [2]string{}
	}
	g := next(gaps)
	require.Equal(t, "gap", g[0])
	var gj GapJSON
	require.NoError(t, json.Unmarshal([]byte(g[1]), &gj))
	require.Equal(t, "z", gj.Zooid)
	p := next(promos)
	require.Equal(t, "event", p[0])
	require.Contains(t, p[1], `"promotion_new"`)
	var kinds []string
	for range 3 {
		kinds = append(kinds, next(all)[0])
	}
	require.Equal(t, []string{"event", "event", "gap"}, kinds)
	select {
	case e := <-promos:
		t.Fatalf("filtered stream got %v", e)
	default:
	}

	require.Equal(t, "kind", f.get(t, "/api/v1/stream?kind=nope", 400)["field"])
	cancel()
	require.Eventually(t, func() bool { return len(f.stream.Subscribers()) == 2 }, 5*time.Second, 5*time.Millisecond,
		"a client that leaves is unsubscribed")
}

func TestAPIHundredThousandZooids(t *testing.T) {
	zs := make([]Zooid, 100000)
	for i := range zs {
		zs[i] = Zooid{Name: fmt.Sprintf("z%06d", i), Niche: fmt.Sprintf("n%02d", i%40), State: StateAlive, LastSeen: now0, Threshold: 30 * time.Second}
	}
	zs[31337].State, zs[31337].Incident = StateSilent, "hbgap-x"
	f := newFixture(t, nil, zs...)
	start := time.Now()
	v := f.get(t, "/api/v1/zooids?limit=100000", 200)
	require.Len(t, v["zooids"], 100000)
	t.Logf("100,000 zooids in one page: %s", time.Since(start))
	v = f.get(t, "/api/v1/zooids", 200)
	require.Len(t, v["zooids"], 1000, "default page")
	require.EqualValues(t, 100000, v["total"])
	require.Equal(t, []string{"z031337"}, names(f.get(t, "/api/v1/zooids?state=silent", 200)))
	require.Len(t, v["niches"], 40)
	require.Equal(t, "z099999", f.get(t, "/api/v1/zooids/z099999", 200)["name"])
	require.True(t, slices.Contains(names(f.get(t, "/api/v1/zooids?q=z09999&limit=20", 200)), "z099990"))
}

// The live stream samples like vector tap: past ?limit= per ?interval= the
// rest is counted in an `event: dropped` line, not sent.
func TestAPIStreamSamples(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, code := sseConnect(t, ctx, f.ts.URL, "/api/v1/stream?kind=event&limit=2&interval=10s")
	require.Equal(t, 200, code)
	require.Eventually(t, func() bool { return len(f.stream.Subscribers()) == 3 }, 5*time.Second, 5*time.Millisecond)
	at := time.Now()
	var evs []messages.ObservedEvent
	for i := range 5 {
		evs = append(evs, messages.ObservedEvent{Event: &messages.Event{Source: "s", Type: fmt.Sprintf("t%d", i), TS: at}})
	}
	f.stream.Publish(&messages.EventsObserved{At: at, Events: evs})
	var got []string
	for len(got) < 3 {
		select {
		case e := <-ch:
			got = append(got, e[0]+" "+e[1])
		case <-time.After(5 * time.Second):
			t.Fatalf("got %v", got)
		}
	}
	require.Contains(t, got[0], `"t0"`)
	require.Contains(t, got[1], `"t1"`)
	require.Equal(t, `dropped {"dropped":0,"over_limit":3}`, got[2])
	for q, field := range map[string]string{"limit=0": "limit", "interval=5ms": "interval", "interval=x": "interval"} {
		require.Equal(t, field, f.get(t, "/api/v1/stream?"+q, 400)["field"], q)
	}
}
