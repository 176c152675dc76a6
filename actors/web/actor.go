package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/heartbeat/history"
)

// ActorConfig is what the HTTP actor needs besides Deps: the server's
// options (Config, query interfaces, stores, hooks), the Feed's history and
// heartbeat counter, and a hook told the bound address (tests listen on :0).
type ActorConfig struct {
	Options
	// Feed, if set, is the daemon's Feed, subscribed when the tree was
	// built (nil: the actor makes and subscribes its own).
	Feed *Feed
	// History, if set, is the availability history the actor opens on
	// Started and closes on release.
	History    *history.Config
	Heartbeats func() float64
	OnListen   func(addr string)
}

// HTTP is the daemon's HTTP actor. Receives: lifecycle messages and
// *actors.GoroutineFailed (from its listener goroutine). Sends nothing.
// Owns the Feed (its goroutine and stream subscription), the listener
// goroutine and the server; it releases all of them on Stopping and on
// Restarting.
type HTTP struct {
	cfg  ActorConfig
	deps actors.Deps
	log  *slog.Logger

	feed   *Feed
	hist   *history.Log
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	srv    *http.Server
}

// NewHTTP returns the HTTP actor's producer.
func NewHTTP(cfg ActorConfig, deps actors.Deps) actor.Producer {
	return func() actor.Actor { return &HTTP{cfg: cfg, deps: deps} }
}

// Receive implements actor.Actor.
func (h *HTTP) Receive(ctx actor.Context) {
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

var (
	listenFailuresMu sync.Mutex
	listenFailures   = map[prometheus.Registerer]prometheus.Counter{}
)

// listenFailureCounter returns kloros_observer_http_listen_failures_total on
// reg, registered once per registry (the actor restarts; the counter stays).
func listenFailureCounter(reg prometheus.Registerer) prometheus.Counter {
	listenFailuresMu.Lock()
	defer listenFailuresMu.Unlock()
	if c, ok := listenFailures[reg]; ok {
		return c
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kloros_observer", Name: "http_listen_failures_total",
		Help: "Attempts to bind the HTTP listen address that failed (address in use, bad address); the HTTP actor retries with backoff."})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				c = are.ExistingCollector.(prometheus.Counter)
			}
		}
	}
	listenFailures[reg] = c
	return c
}

func (h *HTTP) start(ctx actor.Context) {
	h.log = h.deps.Logger.With("actor", "http")
	o := h.cfg.Options
	o.Logger = h.log
	if o.Stream == nil {
		o.Stream = h.deps.Stream
	}
	if o.Now == nil && h.deps.Clock != nil {
		o.Now = h.deps.Clock.Now
	}
	if h.cfg.History != nil && o.History == nil {
		hist, err := history.Open(*h.cfg.History, o.Now)
		if err != nil {
			// The page and the API work without it (availability unknown).
			h.log.Error("availability history unavailable", "file", h.cfg.History.Path, "err", err)
		} else {
			h.hist, o.History = hist, hist
		}
	}
	h.feed = h.cfg.Feed
	if h.feed == nil {
		h.feed = NewFeed(FeedConfig{EventRing: o.Config.EventRing, IntentRing: o.Config.IntentRing,
			Heartbeats: h.cfg.Heartbeats, Now: o.Now, Logger: h.log})
	}
	h.feed.SetHistory(o.History)
	h.feed.Start(o.Stream)
	o.Feed = h.feed
	srv, err := New(o)
	if err != nil {
		panic(&actors.ConfigError{Field: "http.web_config_file", Value: o.Config.WebConfigFile, Why: err.Error()})
	}
	var failures prometheus.Counter
	if h.deps.Metrics != nil {
		failures = listenFailureCounter(h.deps.Metrics.Registry)
	} else {
		failures = listenFailureCounter(nil)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	root, self := ctx.ActorSystem().Root, ctx.Self()
	go func() {
		defer close(h.done)
		defer actors.Recover("http server", func(f *actors.GoroutineFailed) { root.Send(self, f) })
		if err := h.serve(runCtx, srv, failures); err != nil {
			root.Send(self, &actors.GoroutineFailed{Err: err})
		}
	}()
}

// serve binds the address, retrying with capped backoff while it fails, then
// serves until ctx ends. Only an unexpected Serve error is returned.
func (h *HTTP) serve(ctx context.Context, s *Server, failures prometheus.Counter) error {
	addr := h.cfg.Config.Listen
	backoff := max(h.cfg.Config.RetryMin, 10*time.Millisecond)
	logged := false
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			if logged {
				h.log.Info("http listen address is free again", "addr", addr)
			}
			return h.serveOn(ctx, s, ln)
		}
		failures.Inc()
		if !logged {
			h.log.Error("cannot listen; the rest of the daemon runs on, retrying with backoff", "addr", addr, "err", err,
				"retry_seconds", backoff.Seconds())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, max(h.cfg.Config.RetryMax, backoff))
	}
}

func (h *HTTP) serveOn(ctx context.Context, s *Server, ln net.Listener) error {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		// Requests (live streams above all) end when the actor releases.
		BaseContext: func(net.Listener) context.Context { return ctx }}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	if ctx.Err() != nil {
		ln.Close()
		return nil
	}
	h.log.Info("serving the dashboard, /api/v1, /metrics, /healthz and /readyz", "addr", ln.Addr().String(),
		"loopback", IsLoopback(ln.Addr().String()), "web_config_file", h.cfg.Config.WebConfigFile)
	if h.cfg.OnListen != nil {
		h.cfg.OnListen(ln.Addr().String())
	}
	err := s.Serve(ln, srv)
	if err == nil || errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
}

func (h *HTTP) release() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.mu.Lock()
	srv := h.srv
	h.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		cancel()
	}
	<-h.done
	h.cancel, h.srv = nil, nil
	h.feed.Stop()
	if h.hist != nil {
		if err := h.hist.Close(); err != nil {
			h.log.Error("cannot close the availability history", "err", err)
		}
		h.hist = nil
	}
}
