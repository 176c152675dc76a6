package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kloros/kloros-observer/actors/observe"
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

// stream serves GET /api/v1/stream: the observation stream as Server-Sent
// Events, one `event: <kind>` with `data: <json>` per observation (an event
// batch is one SSE event per event), filtered by ?kind=event,gap and
// ?type=promotion_new (event, intent or rule intent type). Each client is
// its own stream subscriber "sse" with a bounded buffer: a slow client drops
// (counted in kloros_observer_stream_dropped_total{subscriber="sse"}, and
// told in an `event: dropped` line), never the daemon.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q := parseQuery(r, "kind", "type")
	kindList := q.list("kind", nil)
	types := q.list("type", nil)
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
	fmt.Fprintf(bw, "retry: 1000\n: kloros-observer live stream, kinds %s\n\n", kinds)
	if bw.Flush() != nil || rc.Flush() != nil {
		return
	}
	keep := time.NewTicker(sseKeepalive)
	defer keep.Stop()
	var dropped uint64
	write := func(p any) {
		for _, e := range encode(p) {
			if len(types) > 0 && !slices.Contains(types, typeOf(e)) {
				continue
			}
			b, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			bw.WriteString("event: ")
			bw.WriteString(e.Kind)
			bw.WriteString("\ndata: ")
			bw.Write(b)
			bw.WriteString("\n\n")
		}
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			bw.WriteString(": keepalive\n\n")
		case p := <-sub.C():
			write(p)
		drain:
			for range 1024 {
				select {
				case p := <-sub.C():
					write(p)
				default:
					break drain
				}
			}
		}
		if d := sub.Dropped(); d != dropped {
			fmt.Fprintf(bw, "event: dropped\ndata: {\"dropped\":%d}\n\n", d-dropped)
			dropped = d
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
	}
}

var _ = strings.TrimSpace
