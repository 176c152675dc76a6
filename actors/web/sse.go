package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

// ParseDuration reads plain seconds ("30", "1.5") or a Go duration ("2h").
func ParseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f > float64(1<<62)/1e9 {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// sseKeepalive is how often an idle stream gets a comment line, so proxies
// and the client notice a dead connection.
const sseKeepalive = 15 * time.Second

// sseTick is how often a live-stream client drains its subscription. The
// client's goroutine is not woken per observation (at 800,000 events/s that
// alone would slow the pipeline): the stream drops into a channel nobody
// waits on, and the client takes what is there ten times a second.
const sseTick = 100 * time.Millisecond

// stream serves GET /api/v1/stream: the observation stream as Server-Sent
// Events, one `event: <kind>` with `data: <json>` per observation (an event
// batch is one SSE event per event), filtered by ?kind=event,gap and
// ?type=promotion_new (event, intent or rule intent type).
//
// A live view is for people, so like `vector tap` it samples: at most
// ?limit= observations (default 100, at most 10,000) per ?interval= (default
// 500ms, from 100ms to 10s) are encoded and sent; the rest are counted and
// reported in an `event: dropped` line ({"dropped": n, "over_limit": m}).
// Each client is its own stream subscriber "sse" with a bounded buffer: what
// does not fit is dropped and counted by the stream
// (kloros_observer_stream_dropped_total{subscriber="sse"}), never waited
// for, so clients cannot slow the daemon.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "kind", "type", "limit", "interval")
	kindList := q.list("kind", nil)
	types := q.list("type", nil)
	limit := q.int("limit", 100, 1, 10000)
	interval := 500 * time.Millisecond
	if v := q.str("interval", 32); v != "" && q.err == nil {
		d, err := ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > 10*time.Second {
			q.err = &paramError{"interval", fmt.Sprintf("%q: want a duration from 100ms to 10s", v)}
		}
		interval = d
	}
	if q.bad(w) {
		return
	}
	kinds, err := observe.ParseKinds(kindList...)
	if err != nil {
		fail(w, http.StatusBadRequest, "kind", err.Error())
		return
	}
	if s.o.Stream == nil {
		fail(w, http.StatusServiceUnavailable, "", "the observation stream is not available")
		return
	}
	if n := s.sse.Add(1); int(n) > s.o.Config.MaxSSEClients {
		s.sse.Add(-1)
		fail(w, http.StatusServiceUnavailable, "", fmt.Sprintf("too many live-stream clients (max %d)", s.o.Config.MaxSSEClients))
		return
	}
	defer s.sse.Add(-1)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the server's write timeout is for ordinary requests
	c := s.hub.join(kinds)
	defer s.hub.leave(c)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, "retry: 1000\n: kloros-observer live stream, kinds %s, at most %d per %s\n\n", kinds, limit, interval)
	if bw.Flush() != nil || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(sseKeepalive)
	defer tick.Stop()
	sent, over := 0, 0
	window := time.Now()
	emit := func(e Envelope) {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return
		}
		sent++
		bw.WriteString("event: ")
		bw.WriteString(e.Kind)
		bw.WriteString("\ndata: ")
		bw.Write(b)
		bw.WriteString("\n\n")
	}
	// write sends what passes the filters and the budget; what is over the
	// budget is only counted, never encoded (a flood costs a count).
	write := func(p any) {
		if m, ok := p.(*messages.EventsObserved); ok {
			if sent >= limit && len(types) == 0 {
				over += len(m.Events) // over the budget: a batch costs one addition
				return
			}
			for _, oe := range m.Events {
				if oe.Event == nil || (len(types) > 0 && !slices.Contains(types, oe.Event.Type)) {
					continue
				}
				if sent >= limit {
					over++
					continue
				}
				emit(Envelope{"event", eventJSON(m.At, oe)})
			}
			return
		}
		for _, e := range encode(p) {
			if len(types) > 0 && !slices.Contains(types, typeOf(e)) {
				continue
			}
			if sent >= limit {
				over++
				continue
			}
			emit(e)
		}
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			bw.WriteString(": keepalive\n\n")
		case <-c.wake:
			if now := time.Now(); now.Sub(window) >= interval {
				window, sent = now, 0
			}
			batch, dropped := c.take()
			for _, p := range batch {
				write(p)
			}
			if dropped > 0 || over > 0 {
				fmt.Fprintf(bw, "event: dropped\ndata: {\"dropped\":%d,\"over_limit\":%d}\n\n", dropped, over)
				over = 0
			}
		}
		if bw.Buffered() == 0 {
			continue
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
}

// sseHub is the live stream's one subscriber of the observation stream
// ("sse"), shared by every live-stream client, so that ten clients cost the
// pipeline one non-blocking channel offer per observation, not ten. Its
// goroutine (running while any client is connected) drains the
// subscription every sseTick and hands each client what its kinds select,
// bounded per client; the clients filter, sample and encode on their own
// request goroutines.
type sseHub struct {
	stream *observe.Stream
	buffer int

	mu      sync.Mutex
	clients map[*sseClient]struct{}
	sub     *observe.Subscription
	stop    chan struct{}
	done    chan struct{}
}

// sseClient is one live-stream client's mailbox in the hub.
type sseClient struct {
	kinds observe.Kind
	wake  chan struct{} // cap 1: a pending wake-up coalesces the next

	mu      sync.Mutex
	pending []any
	dropped uint64 // payloads the hub or this mailbox had no room for
	max     int
}

func (c *sseClient) take() ([]any, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, d := c.pending, c.dropped
	c.pending, c.dropped = nil, 0
	return p, d
}

func (h *sseHub) join(kinds observe.Kind) *sseClient {
	c := &sseClient{kinds: kinds, wake: make(chan struct{}, 1), max: h.buffer}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients == nil {
		h.clients = map[*sseClient]struct{}{}
	}
	h.clients[c] = struct{}{}
	if h.sub == nil {
		h.sub = h.stream.Subscribe("sse", h.buffer, observe.All)
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go h.run(h.sub, h.stop, h.done)
	}
	return c
}

func (h *sseHub) leave(c *sseClient) {
	h.mu.Lock()
	delete(h.clients, c)
	var stop, done chan struct{}
	if len(h.clients) == 0 && h.sub != nil {
		h.sub.Close()
		stop, done = h.stop, h.done
		h.sub = nil
	}
	h.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (h *sseHub) run(sub *observe.Subscription, stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(sseTick)
	defer tick.Stop()
	var seen uint64
	batch := make([]any, 0, h.buffer)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		batch = batch[:0]
	drain:
		for range h.buffer {
			select {
			case p := <-sub.C():
				batch = append(batch, p)
			default:
				break drain
			}
		}
		d := sub.Dropped()
		lost := d - seen
		seen = d
		if len(batch) == 0 && lost == 0 {
			continue
		}
		h.mu.Lock()
		for c := range h.clients {
			c.mu.Lock()
			c.dropped += lost
			for _, p := range batch {
				if observe.KindOf(p)&c.kinds == 0 {
					continue
				}
				if len(c.pending) >= c.max {
					c.dropped++
					continue
				}
				c.pending = append(c.pending, p)
			}
			c.mu.Unlock()
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
		h.mu.Unlock()
	}
}
