package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

// ReadSpool reads the spool's event files (dir/*.json, each
// {"source","type","ts","data"} with ts in epoch seconds). Files that do not
// parse are skipped and counted.
func ReadSpool(dir string) (events []*messages.Event, skipped int, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, 0, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			skipped++
			continue
		}
		var e struct {
			Source string         `json:"source"`
			Type   string         `json:"type"`
			TS     float64        `json:"ts"`
			Data   map[string]any `json:"data"`
		}
		if json.Unmarshal(b, &e) != nil || e.Type == "" {
			skipped++
			continue
		}
		events = append(events, &messages.Event{Source: e.Source, Type: e.Type, TS: fromEpoch(e.TS), Data: e.Data})
	}
	return events, skipped, nil
}

// Replay runs set over events on their own timestamps (sorted; outside
// [since, until) left out, zero bounds meaning open) and writes each intent
// it would have proposed to w as a JSON line: at, rule, intent_type,
// priority, reason, data. Nothing else is written. Time runs on to until
// (if set) so windows and absences close.
func Replay(set *Set, events []*messages.Event, since, until time.Time, w io.Writer, log *slog.Logger) (int, error) {
	sort.SliceStable(events, func(i, j int) bool { return events[i].TS.Before(events[j].TS) })
	var in []*messages.Event
	for _, e := range events {
		if (!since.IsZero() && e.TS.Before(since)) || (!until.IsZero() && !e.TS.Before(until)) {
			continue
		}
		in = append(in, e)
	}
	if len(in) == 0 {
		return 0, nil
	}
	start := in[0].TS
	if !since.IsZero() {
		start = since
	}
	sim := NewSim(set, start, log)
	n := 0
	write := func(fs []Fired) error {
		for _, f := range fs {
			data, err := intentfile.MarshalCompact(f.Intent.Data)
			if err != nil {
				return err
			}
			line, err := intentfile.MarshalCompact(messages.Object{
				{Key: "at", Value: f.At.UTC().Format(time.RFC3339Nano)}, {Key: "rule", Value: f.Rule},
				{Key: "intent_type", Value: f.Intent.Type}, {Key: "priority", Value: f.Intent.Priority},
				{Key: "reason", Value: f.Intent.Reason}})
			if err != nil {
				return err
			}
			// splice data in last, keeping its own key order
			if _, err := fmt.Fprintf(w, "%s,\"data\":%s}\n", line[:len(line)-1], data); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	for _, e := range in {
		if err := write(sim.Event(e)); err != nil {
			return n, err
		}
	}
	if !until.IsZero() {
		if err := write(sim.Advance(until)); err != nil {
			return n, err
		}
	}
	return n, nil
}
