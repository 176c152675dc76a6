package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"

	"github.com/kloros/kloros-observer/actors/heartbeat/history"
	"github.com/kloros/kloros-observer/actors/heartbeat/silence"
	"github.com/kloros/kloros-observer/actors/observe"
)

//go:embed ui
var uiFS embed.FS

// Options is what a Server serves. Only Feed is required; a nil
// query interface makes its endpoint answer an empty list (a daemon with the
// heartbeat monitor turned off has no zooids).
type Options struct {
	Config   HTTPConfig
	Stream   *observe.Stream
	Feed     *Feed
	Zooids   Zooids
	Silences *silence.Store
	History  *history.Log
	Rules    Rules
	Sources  Sources
	Tree     Tree
	// IntentsDir is the orchestrator's queue (pending intents are listed
	// from it, and only from it).
	IntentsDir string
	// Ready says whether the daemon is ready (nil error: ready); ChemBus,
	// when ChemBus is enabled, says whether the bus is reachable.
	Ready   func() error
	ChemBus func() error
	// ChemBusEnabled, with ChemBus nil, makes /readyz ask the Feed: ready
	// while the ChemBus source's last report says connected.
	ChemBusEnabled bool
	// Reload is POST /-/reload's hook (nil: 501).
	Reload func() error
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// Handlers are served besides the rest (the chaos build's
	// failure-on-demand endpoint; nil in a normal build).
	Handlers map[string]http.Handler
	Version  string
	Started  time.Time
	// SnapshotTTL is how long one registry snapshot answers requests
	// (0: 250 ms; negative: every request takes a fresh one).
	SnapshotTTL time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Server is the daemon's HTTP surface: /metrics, /healthz, /readyz, the
// /api/v1 query API and live stream, POST /-/reload, and the web page at /.
// Writes (silences, forget, reload) are allowed from loopback with a
// same-origin check, or on any address when the exporter-toolkit web config
// requires TLS and basic auth (see allowWrite). Safe for concurrent use;
// owns no goroutine outside the requests it serves.
type Server struct {
	o   Options
	mux *http.ServeMux

	loopback   atomic.Bool // the listener is on a loopback address
	authWrites bool        // the web config requires TLS and basic auth

	sse atomic.Int32 // live-stream clients
	hub *sseHub

	snapMu sync.Mutex
	snap   *snapshot
}

// New checks the options (the web config file included) and builds the
// handlers.
func New(o Options) (*Server, error) {
	if o.Feed == nil {
		return nil, errors.New("web: a Feed is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	def := DefaultHTTPConfig()
	if o.Config.MaxSSEClients <= 0 {
		o.Config.MaxSSEClients = def.MaxSSEClients
	}
	if o.Config.StreamBuffer <= 0 {
		o.Config.StreamBuffer = def.StreamBuffer
	}
	s := &Server{o: o, mux: http.NewServeMux(), hub: &sseHub{stream: o.Stream, buffer: o.Config.StreamBuffer}}
	s.loopback.Store(true)
	if f := o.Config.WebConfigFile; f != "" {
		if err := web.Validate(f); err != nil {
			return nil, fmt.Errorf("http.web_config_file = %q: %w", f, err)
		}
		ok, err := requiresTLSAndAuth(f)
		if err != nil {
			return nil, fmt.Errorf("http.web_config_file = %q: %w", f, err)
		}
		s.authWrites = ok
	}
	s.routes()
	return s, nil
}

// requiresTLSAndAuth reads whether a web config turns on TLS and basic auth.
func requiresTLSAndAuth(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var c struct {
		TLS struct {
			CertFile string `yaml:"cert_file"`
			Cert     string `yaml:"cert"`
		} `yaml:"tls_server_config"`
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return false, err
	}
	return (c.TLS.CertFile != "" || c.TLS.Cert != "") && len(c.Users) > 0, nil
}

// MetricsHandler serves reg's metrics (text or OpenMetrics, negotiated),
// going on past a collector's error.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError})
}

// Handler is the server's handler (for tests and for Serve).
func (s *Server) Handler() http.Handler { return s.mux }

// SetLoopback records whether the listener is on a loopback address (Serve
// does it; tests with httptest call it).
func (s *Server) SetLoopback(v bool) { s.loopback.Store(v) }

// IsLoopback reports whether addr (host:port) is a loopback address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves on ln until srv is shut down, through exporter-toolkit (TLS
// and basic auth from the web config file, if one is set).
func (s *Server) Serve(ln net.Listener, srv *http.Server) error {
	s.loopback.Store(IsLoopback(ln.Addr().String()))
	srv.Handler = s.mux
	noSystemd := false
	file := s.o.Config.WebConfigFile
	return web.Serve(ln, srv, &web.FlagConfig{WebSystemdSocket: &noSystemd, WebConfigFile: &file}, s.o.Logger)
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	m.HandleFunc("GET /readyz", s.readyz)
	for path, h := range s.o.Handlers {
		m.Handle(path, h)
	}
	if s.o.Metrics != nil {
		m.Handle("GET /metrics", s.o.Metrics)
	}
	m.HandleFunc("GET /api/v1/status", s.status)
	m.HandleFunc("GET /api/v1/zooids", s.zooids)
	m.HandleFunc("GET /api/v1/zooids/{name}", s.zooid)
	m.HandleFunc("POST /api/v1/zooids/{name}/forget", s.write(s.forget))
	m.HandleFunc("GET /api/v1/events", s.events)
	m.HandleFunc("GET /api/v1/intents", s.intents)
	m.HandleFunc("GET /api/v1/intents/pending", s.pending)
	m.HandleFunc("GET /api/v1/intents/pending/{name}", s.pendingOne)
	m.HandleFunc("GET /api/v1/rules", s.rules)
	m.HandleFunc("GET /api/v1/sources", s.sources)
	m.HandleFunc("GET /api/v1/tree", s.tree)
	m.HandleFunc("GET /api/v1/rates", s.rates)
	m.HandleFunc("GET /api/v1/silences", s.silences)
	m.HandleFunc("POST /api/v1/silences", s.write(s.addSilence))
	m.HandleFunc("DELETE /api/v1/silences/{id}", s.write(s.expireSilence))
	m.HandleFunc("GET /api/v1/stream", s.stream)
	m.HandleFunc("POST /-/reload", s.write(s.reload))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "", "no such endpoint: "+r.Method+" "+r.URL.Path+" (see the README for the API)")
	})
	sub, _ := fs.Sub(uiFS, "ui")
	files := http.FileServerFS(sub)
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		http.ServeFileFS(w, r, sub, "index.html")
	})
	m.Handle("GET /ui/", http.StripPrefix("/ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		files.ServeHTTP(w, r)
	})))
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// apiError is every error's body.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func fail(w http.ResponseWriter, code int, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(apiError{Error: msg, Field: field})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// paramError is a bad query parameter (a 400 naming it).
type paramError struct{ field, why string }

func (e *paramError) Error() string { return e.field + ": " + e.why }

// query reads and checks the query string: only the names allowed, each at
// most once, values bounded.
type query struct {
	vals map[string]string
	err  *paramError
}

func parseQuery(r *http.Request, allowed ...string) *query {
	q := &query{vals: map[string]string{}}
	if len(r.URL.RawQuery) > 4096 {
		q.err = &paramError{"query", "longer than 4096 bytes"}
		return q
	}
	for k, v := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			q.err = &paramError{k, "unknown parameter (allowed: " + strings.Join(allowed, ", ") + ")"}
			return q
		}
		if len(v) > 1 {
			q.err = &paramError{k, "given more than once"}
			return q
		}
		q.vals[k] = v[0]
	}
	return q
}

func (q *query) str(name string, maxLen int) string {
	v := q.vals[name]
	if q.err == nil && len(v) > maxLen {
		q.err = &paramError{name, fmt.Sprintf("longer than %d bytes", maxLen)}
	}
	return v
}

func (q *query) list(name string, allowed []string) []string {
	v := q.str(name, 1024)
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if allowed != nil && !slices.Contains(allowed, p) && q.err == nil {
			q.err = &paramError{name, fmt.Sprintf("%q is not one of %s", p, strings.Join(allowed, ", "))}
		}
		out = append(out, p)
	}
	if len(out) > 64 && q.err == nil {
		q.err = &paramError{name, "more than 64 values"}
	}
	return out
}

func (q *query) int(name string, def, lo, hi int) int {
	v, ok := q.vals[name]
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if q.err == nil && (err != nil || n < lo || n > hi) {
		q.err = &paramError{name, fmt.Sprintf("%q: want an integer from %d to %d", v, lo, hi)}
	}
	return n
}

func (q *query) bad(w http.ResponseWriter) bool {
	if q.err != nil {
		fail(w, http.StatusBadRequest, q.err.field, q.err.Error())
		return true
	}
	return false
}
