package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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
	sub := s.o.Stream.Subscribe("sse", s.o.Config.StreamBuffer, kinds)
	defer sub.Close()

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
	tick := time.NewTicker(sseTick)
	defer tick.Stop()
	var dropped uint64
	sent, over := 0, 0
	window := time.Now()
	lastWrite := time.Now()
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
		case now := <-tick.C:
			if now.Sub(window) >= interval {
				window, sent = now, 0
			}
		}
		wrote := bw.Buffered()
	drain:
		for range s.o.Config.StreamBuffer {
			select {
			case p := <-sub.C():
				write(p)
			default:
				break drain
			}
		}
		if d := sub.Dropped(); d != dropped || over > 0 {
			fmt.Fprintf(bw, "event: dropped\ndata: {\"dropped\":%d,\"over_limit\":%d}\n\n", d-dropped, over)
			dropped, over = d, 0
		}
		if bw.Buffered() == wrote && time.Since(lastWrite) < sseKeepalive {
			continue
		}
		if bw.Buffered() == 0 {
			bw.WriteString(": keepalive\n\n")
		}
		lastWrite = time.Now()
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
}
