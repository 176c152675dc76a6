package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
)

// parseObject reads pub's JSON argument, naming it when it is not JSON or
// not one object.
func parseObject(arg string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.UseNumber() // integers stay integers on the wire
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the JSON argument (2nd, after TOPIC) is not JSON: %q: %w", arg, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("the JSON argument (2nd, after TOPIC) has more after its first value: %q", arg)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the JSON argument (2nd, after TOPIC) must be a JSON object (a payload or its facts), got %q", arg)
	}
	return obj, nil
}

// validateSignal refuses what consumers are known to drop. obj is a full
// payload (full) or the facts of one.
func validateSignal(topic string, obj map[string]any, full bool) error {
	facts := obj
	if full {
		if s, _ := obj["signal"].(string); s != topic {
			return fmt.Errorf("payload signal = %v but TOPIC is %q: consumers drop a mismatch", obj["signal"], topic)
		}
		f, ok := obj["facts"].(map[string]any)
		if !ok {
			return fmt.Errorf("payload facts = %v: must be an object", obj["facts"])
		}
		facts = f
	}
	if topic != "HEARTBEAT" {
		return nil
	}
	var why []string
	switch z, ok := facts["zooid"].(string); {
	case !ok:
		why = append(why, fmt.Sprintf("zooid = %v: must be a non-empty string (every consumer drops a HEARTBEAT without one)", orMissing(facts["zooid"])))
	case z == "" || strings.IndexFunc(z, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		why = append(why, fmt.Sprintf("zooid = %q: must be non-empty and printable", z))
	}
	if _, ok := facts["niche"].(string); !ok {
		why = append(why, fmt.Sprintf("niche = %v: must be a string", orMissing(facts["niche"])))
	}
	if _, ok := facts["uptime_s"].(json.Number); !ok {
		why = append(why, fmt.Sprintf("uptime_s = %v: must be a number", orMissing(facts["uptime_s"])))
	}
	if n, ok := facts["processed_count"].(json.Number); !ok {
		why = append(why, fmt.Sprintf("processed_count = %v: must be an integer >= 0", orMissing(facts["processed_count"])))
	} else if i, err := n.Int64(); err != nil || i < 0 {
		why = append(why, fmt.Sprintf("processed_count = %s: must be an integer >= 0", n))
	}
	if len(why) > 0 {
		return fmt.Errorf("HEARTBEAT facts (SPEC §1.2): %s", strings.Join(why, "; "))
	}
	return nil
}

func orMissing(v any) any {
	if v == nil {
		return "(missing)"
	}
	return v
}

// watchConnection returns a logger for the SUB side's connection log and
// tells the user, connectingAfter after start and then every
// stillConnectingEvery, that tail is still connecting and to where, with the
// last error; and when the connection is made or lost.
func watchConnection(ctx context.Context, xpub string, w io.Writer) *slog.Logger {
	h := &connHandler{xpub: xpub, w: w, changed: make(chan struct{}, 1)}
	go func() {
		t := time.NewTimer(connectingAfter)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.changed:
				t.Reset(connectingAfter) // (re)connecting starts the clock again
			case <-t.C:
				h.mu.Lock()
				if !h.connected {
					msg := fmt.Sprintf("chembus tail: still connecting to %s (XPUB: is a ChemBus proxy running there? `chembus proxy` starts one)", xpub)
					if h.lastErr != "" {
						msg += ": " + h.lastErr
					}
					fmt.Fprintln(w, msg)
				}
				h.mu.Unlock()
				t.Reset(stillConnectingEvery)
			}
		}
	}()
	return slog.New(h)
}

type connHandler struct {
	xpub    string
	w       io.Writer
	changed chan struct{}

	mu        sync.Mutex
	connected bool
	lastErr   string
}

func (h *connHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *connHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *connHandler) WithGroup(string) slog.Handler            { return h }

func (h *connHandler) Handle(_ context.Context, r slog.Record) error {
	var errText string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			errText = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case strings.HasPrefix(r.Message, "subscribed"):
		h.connected = true
		fmt.Fprintf(h.w, "chembus tail: connected to %s\n", h.xpub)
	case strings.HasPrefix(r.Message, "cannot subscribe"):
		h.lastErr = errText
	case strings.Contains(r.Message, "lost"):
		h.connected, h.lastErr = false, errText
		fmt.Fprintf(h.w, "chembus tail: connection to %s lost (%s); reconnecting\n", h.xpub, errText)
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
	return nil
}
