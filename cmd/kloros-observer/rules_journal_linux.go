//go:build linux

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/kloros/kloros-observer/actors/journald/classify"
	"github.com/kloros/kloros-observer/messages"
)

// readJournalDir reads every entry of a journal directory in [since, until)
// and classifies it as the journald sources do (kernel entries as unit
// "kernel"; others by _SYSTEMD_UNIT, else SYSLOG_IDENTIFIER). Unlike the
// daemon it does not filter by unit: a replay sees the whole directory.
func readJournalDir(dir string, since, until time.Time) ([]*messages.Event, error) {
	j, err := sdjournal.NewJournalFromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	defer j.Close()
	if !since.IsZero() {
		err = j.SeekRealtimeUsec(uint64(since.UnixMicro()))
	} else {
		err = j.SeekHead()
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	var out []*messages.Event
	for {
		n, err := j.Next()
		if err != nil {
			return out, fmt.Errorf("journal %s: %w", dir, err)
		}
		if n == 0 {
			return out, nil
		}
		usec, err := j.GetRealtimeUsec()
		if err != nil {
			continue
		}
		ts := time.UnixMicro(int64(usec))
		if !until.IsZero() && !ts.Before(until) {
			return out, nil
		}
		raw, _ := j.GetDataValueBytes("MESSAGE")
		msg := strings.ToValidUTF8(string(raw), "\uFFFD")
		if !utf8.ValidString(msg) {
			continue
		}
		unit := "kernel"
		tr, _ := j.GetDataValue("_TRANSPORT")
		kernel, manager := tr == "kernel", false
		if !kernel {
			if unit, _ = j.GetDataValue("_SYSTEMD_UNIT"); unit == "" {
				unit, _ = j.GetDataValue("SYSLOG_IDENTIFIER")
			} else if about, err := j.GetDataValue("UNIT"); err == nil && unit == "init.scope" {
				unit, manager = about, true // systemd's own message about a unit
			} else if about, err := j.GetDataValue("USER_UNIT"); err == nil && about != "" {
				unit, manager = about, true
			}
		}
		prio := -1
		if p, err := j.GetDataValue("PRIORITY"); err == nil {
			if v, err := strconv.Atoi(p); err == nil {
				prio = v
			}
		}
		typ := classify.Entry(unit, msg, prio, kernel)
		if manager {
			typ = classify.Manager(msg)
		}
		if typ == "" {
			continue
		}
		cur, _ := j.GetCursor()
		data := map[string]any{"unit": unit, "message": msg, "priority": prio, "cursor": cur}
		classify.AddFields(typ, msg, data)
		out = append(out, &messages.Event{Source: "journald", Type: typ, TS: ts, Data: data})
	}
}
