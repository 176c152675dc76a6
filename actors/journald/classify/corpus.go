package classify

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CorpusEntry is one journal entry of testdata/corpus.tsv with the event
// type it must give, here and in a replay through the whole daemon
// (test/parity_test.go).
type CorpusEntry struct {
	Line     int    // in the file
	Unit     string // "kernel" for the kernel transport
	Manager  bool   // systemd's own message about Unit (corpus unit column "systemd:<unit>")
	Priority int
	Expect   string // "" for no event
	Colony   string // what the colony's observer gives (SPEC §1.4)
	Message  string
}

// Classify is the event type the entry gives.
func (e CorpusEntry) Classify() string {
	if e.Manager {
		return Manager(e.Message)
	}
	return Entry(e.Unit, e.Message, e.Priority, e.Kernel())
}

// Kernel reports whether the entry comes from the kernel transport.
func (e CorpusEntry) Kernel() bool { return e.Unit == "kernel" }

// ReadCorpus reads a corpus file. Each line that is neither blank nor a
// "#" comment is
//
//	unit | priorities | expect | colony | message
//
// unit: a unit name, "kernel" (the kernel transport), or "systemd:<unit>"
// for a message systemd itself logs about the unit (PID 1, init.scope,
// UNIT=<unit>). priorities: "3", "0-4" or "0,2,5"; the line stands for one entry per
// priority. expect and colony: an event type or "-" for none; colony "="
// means the same as expect. The message is the rest of the line, trimmed.
func ReadCorpus(path string) ([]CorpusEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []CorpusEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 5)
		if len(parts) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 fields separated by |, got %d: %q", path, n, len(parts), line)
		}
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		unit, prios, expect, colony, msg := parts[0], parts[1], parts[2], parts[3], parts[4]
		if unit == "" || msg == "" || expect == "" || colony == "" {
			return nil, fmt.Errorf("%s:%d: unit, expect, colony and message must not be empty: %q", path, n, line)
		}
		if expect == "-" {
			expect = ""
		}
		switch colony {
		case "=":
			colony = expect
		case "-":
			colony = ""
		}
		ps, err := parsePriorities(prios)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: priorities %q: %w", path, n, prios, err)
		}
		unit, manager := strings.CutPrefix(unit, "systemd:")
		for _, p := range ps {
			out = append(out, CorpusEntry{Line: n, Unit: unit, Manager: manager, Priority: p, Expect: expect, Colony: colony, Message: msg})
		}
	}
	return out, sc.Err()
}

func parsePriorities(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, err
			}
		}
		if a < 0 || b > 7 || a > b {
			return nil, fmt.Errorf("must be within 0-7, low to high")
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	return out, nil
}
