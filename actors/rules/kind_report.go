package rules

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/expr-lang/expr/types"

	"github.com/kloros/kloros-observer/messages"
)

// phaseReportKind reads the PHASE report a phase_signal event points at
// (SPEC §1.3): the signal file {"epoch_id","ts","report","sha256"}, then the
// report — JSON lines with test_id and status pass/fail/flake; malformed
// lines are skipped and counted. It fires when the epoch's flake rate
// reaches flake_rate (with at least min_tests results), or when a test
// passed and failed across the last `epochs` epochs. A signal or report
// that is missing, larger than max_bytes or does not match its sha256 is
// counted (ReportProblems), logged, and otherwise ignored.
//
// This kind reads two local files inside Receive, bounded by max_bytes: a
// deliberate exception to "no blocking I/O in Receive", since a PHASE
// epoch ends a few times a day and the read is one bounded local file.
type phaseReportKind struct {
	maxBytes  int
	epochs    int
	flakeRate float64
	minTests  int
	maxTests  int
	path      *program
}

func newPhaseReport(s *Settings) (kind, error) {
	k := &phaseReportKind{
		maxBytes:  s.Int("max_bytes", 16<<20),
		epochs:    s.Int("epochs", 5),
		flakeRate: s.Float("flake_rate", 0.1),
		minTests:  s.Int("min_tests", 1),
		maxTests:  s.Int("max_tests", 10000),
		path:      s.Expr("signal_path", false),
	}
	if k.path == nil {
		return nil, errors.New("signal_path: want an expression giving the signal file's path (e.g. str(data.path))")
	}
	if k.epochs < 2 || k.maxBytes < 1 || k.maxTests < 1 {
		return nil, fmt.Errorf("epochs = %d, max_bytes = %d, max_tests = %d: want epochs >= 2 and positive sizes", k.epochs, k.maxBytes, k.maxTests)
	}
	return k, nil
}

func (k *phaseReportKind) vars() types.Map {
	return types.Map{"epoch_id": types.String, "report": types.String, "total": types.Int, "passed": types.Int,
		"failed": types.Int, "flaky": types.Int, "flake_rate": types.Float64, "skipped_lines": types.Int,
		"flaky_tests": types.Array(types.String), "flipped_tests": types.Array(types.String)}
}
func (k *phaseReportKind) tickEvery() time.Duration { return 0 }
func (k *phaseReportKind) newGroup(time.Time) group {
	return &reportGroup{k: k, History: map[string][]string{}}
}
func (k *phaseReportKind) programs() []*program { return []*program{k.path} }

var (
	problemsMu sync.Mutex
	problems   = map[string]int{}
)

// ReportProblems returns how many PHASE signals or reports were refused, by
// reason (missing, too_large, sha_mismatch, bad_signal).
func ReportProblems() map[string]int {
	problemsMu.Lock()
	defer problemsMu.Unlock()
	out := make(map[string]int, len(problems))
	for k, v := range problems {
		out[k] = v
	}
	return out
}

type reportProblem struct {
	reason string
	err    error
}

func (p *reportProblem) Error() string { return p.reason + ": " + p.err.Error() }

type reportGroup struct {
	k       *phaseReportKind
	Epochs  []string            `json:"epochs"`  // last epochs seen, oldest first
	History map[string][]string `json:"history"` // test → statuses, one per epoch it ran in
	cur     map[string]any
}

type signalFile struct {
	EpochID any    `json:"epoch_id"`
	TS      any    `json:"ts"`
	Report  string `json:"report"`
	SHA256  string `json:"sha256"`
}

func readBounded(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &reportProblem{"missing", err}
		}
		return nil, &reportProblem{"unreadable", err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, &reportProblem{"unreadable", err}
	}
	if len(b) > max {
		return nil, &reportProblem{"too_large", fmt.Errorf("%s is larger than %d bytes", path, max)}
	}
	return b, nil
}

func (g *reportGroup) event(_ *messages.Event, _ time.Time, r *runner) bool {
	pv, err := r.run(g.k.path)
	if err != nil {
		return false
	}
	sig, _ := pv.(string)
	err = g.read(sig)
	if err != nil {
		var p *reportProblem
		reason := "bad_signal"
		if errors.As(err, &p) {
			reason = p.reason
		}
		problemsMu.Lock()
		problems[reason]++
		problemsMu.Unlock()
		if r.log != nil {
			r.log.Warn("phase report refused", "reason", reason, "signal", sig, "err", err)
		}
		return false
	}
	return g.cur != nil
}

func (g *reportGroup) read(sig string) error {
	g.cur = nil
	b, err := readBounded(sig, 64<<10)
	if err != nil {
		return err
	}
	var s signalFile
	if err := json.Unmarshal(b, &s); err != nil || s.Report == "" || s.SHA256 == "" {
		return &reportProblem{"bad_signal", fmt.Errorf("%s: want {epoch_id, ts, report, sha256}", sig)}
	}
	epoch := text(s.EpochID)
	for _, e := range g.Epochs {
		if e == epoch {
			return nil // the same epoch signalled twice
		}
	}
	report := s.Report
	if !filepath.IsAbs(report) {
		report = filepath.Join(filepath.Dir(sig), report)
	}
	body, err := readBounded(report, g.k.maxBytes)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != s.SHA256 {
		return &reportProblem{"sha_mismatch", fmt.Errorf("%s: sha256 %x, signal says %s", report, sum, s.SHA256)}
	}
	status := map[string]string{}
	skipped := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), g.k.maxBytes)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			TestID string `json:"test_id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(line, &l) != nil || l.TestID == "" || (l.Status != "pass" && l.Status != "fail" && l.Status != "flake") {
			skipped++
			continue
		}
		if len(status) >= g.k.maxTests {
			skipped++
			continue
		}
		status[l.TestID] = l.Status
	}
	var passed, failed, flaky int
	var flakyTests []any
	tests := make([]string, 0, len(status))
	for t := range status {
		tests = append(tests, t)
	}
	sort.Strings(tests)
	for _, t := range tests {
		switch status[t] {
		case "pass":
			passed++
		case "fail":
			failed++
		case "flake":
			flaky++
			flakyTests = append(flakyTests, t)
		}
	}
	// history: drop epochs past the last N, then add this one
	g.Epochs = append(g.Epochs, epoch)
	if len(g.Epochs) > g.k.epochs {
		g.Epochs = g.Epochs[len(g.Epochs)-g.k.epochs:]
	}
	for _, t := range tests {
		h := append(g.History[t], status[t])
		if len(h) > g.k.epochs {
			h = h[len(h)-g.k.epochs:]
		}
		g.History[t] = h
	}
	if len(g.History) > g.k.maxTests { // forget tests that stopped running
		for t := range g.History {
			if _, ran := status[t]; !ran {
				delete(g.History, t)
			}
		}
	}
	var flipped []any
	for _, t := range tests {
		var p, f bool
		for _, s := range g.History[t] {
			p = p || s == "pass"
			f = f || s == "fail"
		}
		if p && f {
			flipped = append(flipped, t)
		}
	}
	total := len(status)
	rate := 0.0
	if total > 0 {
		rate = float64(flaky) / float64(total)
	}
	if flakyTests == nil {
		flakyTests = []any{}
	}
	if flipped == nil {
		flipped = []any{}
	}
	cur := map[string]any{"epoch_id": epoch, "report": s.Report, "total": total, "passed": passed, "failed": failed,
		"flaky": flaky, "flake_rate": rate, "skipped_lines": skipped, "flaky_tests": capList(flakyTests),
		"flipped_tests": capList(flipped)}
	if (total >= g.k.minTests && rate >= g.k.flakeRate && flaky > 0) || len(flipped) > 0 {
		g.cur = cur
	}
	return nil
}

func capList(l []any) []any {
	if len(l) > 20 {
		return l[:20]
	}
	return l
}

func (g *reportGroup) tick(time.Time) bool           { return false }
func (g *reportGroup) vars(time.Time) map[string]any { return g.cur }
func (g *reportGroup) fired(time.Time)               { g.cur = nil }
func (g *reportGroup) idle(time.Time) bool           { return false }
func (g *reportGroup) MarshalJSON() ([]byte, error) {
	type plain reportGroup
	return json.Marshal((*plain)(g))
}
func (g *reportGroup) UnmarshalJSON(b []byte) error {
	type plain reportGroup
	k := g.k
	err := json.Unmarshal(b, (*plain)(g))
	g.k = k
	if g.History == nil {
		g.History = map[string][]string{}
	}
	return err
}
