package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/config"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPConfig is the http section of the daemon's configuration, and what
// the HTTP server runs with.
type HTTPConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`

	IntentsDir string `yaml:"-"`
	// Ready is set once the whole supervision tree has started.
	Ready *atomic.Bool `yaml:"-"`
	// NotReady are asked on every /readyz; each returns why the daemon is
	// not ready ("" when it is): e.g. the emitter failing to write, with
	// intents waiting in memory.
	NotReady []func() string `yaml:"-"`
	// Handlers are served besides the three above (the chaos build's
	// failure-on-demand endpoint; nil in a normal build).
	Handlers map[string]http.Handler `yaml:"-"`
	// OnListen, if set, is told the bound address (tests listen on :0).
	OnListen func(addr string) `yaml:"-"`
}

// DefaultHTTPConfig serves on loopback.
func DefaultHTTPConfig() HTTPConfig { return HTTPConfig{Enabled: true, Listen: "127.0.0.1:9464"} }

// Validate checks the section.
func (c *HTTPConfig) Validate(v *config.Checker) {
	if !c.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		v.Bad("listen", c.Listen, "must be host:port such as 127.0.0.1:9464")
	}
}

// HTTPServer serves /metrics (every kloros_observer_* metric, text or
// OpenMetrics), /healthz (the process is alive: 200) and /readyz (200 once
// the tree has started and the intents directory is writable, else 503 with
// the reason).
//
// It owns the listener and the server goroutine: started on Started, shut
// down (bounded) on Stopping and Restarting. A listen failure (address in
// use, bad address) is a configuration error: the actor stops and says so;
// the rest of the daemon runs on.
type HTTPServer struct {
	cfg  HTTPConfig
	deps actors.Deps
	log  *slog.Logger
	srv  *http.Server
	done chan struct{}
}

// NewHTTPServer returns the HTTP actor's producer.
func NewHTTPServer(cfg HTTPConfig, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &HTTPServer{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (h *HTTPServer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		h.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		h.release()
	case *actors.GoroutineFailed:
		panic(m.Err)
	default:
		actors.Unhandled(h.log, m)
	}
}

func (h *HTTPServer) start(ctx actor.Context) {
	h.log = h.deps.Logger.With("actor", "http")
	ln, err := net.Listen("tcp", h.cfg.Listen)
	if err != nil {
		panic(&actors.ConfigError{Field: "http.listen", Value: h.cfg.Listen, Why: err.Error()})
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(h.deps.Metrics.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", h.ready)
	for path, handler := range h.cfg.Handlers {
		mux.Handle(path, handler)
	}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	h.done = make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer close(h.done)
		defer actors.Recover("http server", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			root.Send(self, &actors.GoroutineFailed{Err: fmt.Errorf("http server: %w", err)})
		}
	}()
	h.log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	if h.cfg.OnListen != nil {
		h.cfg.OnListen(ln.Addr().String())
	}
}

func (h *HTTPServer) ready(w http.ResponseWriter, _ *http.Request) {
	if h.cfg.Ready != nil && !h.cfg.Ready.Load() {
		http.Error(w, "not ready: the supervision tree is still starting", http.StatusServiceUnavailable)
		return
	}
	for _, f := range h.cfg.NotReady {
		if why := f(); why != "" {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
	}
	if err := probeWritable(h.cfg.IntentsDir); err != nil {
		http.Error(w, "not ready: intents directory not writable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// probeWritable creates, writes an intent's worth of bytes into, and removes
// a file in dir (creating dir if needed). An empty file can still be created
// on a full filesystem (issue 15 #3); a write of data cannot.
func probeWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".readyz-*.probe")
	if err != nil {
		return err
	}
	name := filepath.Clean(f.Name())
	_, err = f.Write(probeBytes[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

var probeBytes [1024]byte

func (h *HTTPServer) release() {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
	<-h.done
	h.srv = nil
}
