package classify

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCorpus walks testdata/corpus.tsv: every entry gives the event type it
// lists, and the colony column is what a literal reading of SPEC §1.4 (the
// colony's rules, colonyClassify below) gives, so every difference between
// us and the colony is written down in the corpus, on purpose.
func TestCorpus(t *testing.T) {
	entries, err := ReadCorpus("testdata/corpus.tsv")
	require.NoError(t, err)
	seen := map[string]int{}
	for _, e := range entries {
		key := fmt.Sprintf("%s|%v|%d|%s", e.Unit, e.Manager, e.Priority, e.Message)
		require.Zero(t, seen[key], "corpus line %d repeats the entry of line %d (%s)", e.Line, seen[key], key)
		seen[key] = e.Line
		got := e.Classify()
		require.Equal(t, e.Expect, got, "corpus line %d: %s priority %d %q", e.Line, e.Unit, e.Priority, e.Message)
		colony := colonyClassify(e.Unit, e.Message, e.Priority)
		if e.Manager {
			colony = "" // the colony matches _SYSTEMD_UNIT only: it never reads PID 1's messages
		}
		require.Equal(t, e.Colony, colony,
			"corpus line %d: the colony column is not what the colony's rules give: %s priority %d %q", e.Line, e.Unit, e.Priority, e.Message)
	}
	// Coverage: every default unit, the kernel, every priority, every type.
	units, prios, types := map[string]bool{}, map[string]map[int]bool{}, map[string]bool{}
	for _, e := range entries {
		units[e.Unit] = true
		src := "unit"
		if e.Kernel() {
			src = "kernel"
		}
		if prios[src] == nil {
			prios[src] = map[int]bool{}
		}
		prios[src][e.Priority] = true
		types[e.Expect] = true
	}
	for _, u := range append(DefaultUnits(), "kernel") {
		require.True(t, units[u], "the corpus has no entry for %s", u)
	}
	for _, src := range []string{"unit", "kernel"} {
		for p := 0; p <= 7; p++ {
			require.True(t, prios[src][p], "the corpus has no %s entry at priority %d", src, p)
		}
	}
	for _, typ := range []string{"", DreamPromotion, DreamGeneration, DreamError, GPUOOM, LockContention,
		ErrorOperational, ErrorCritical, KernelCritical, KernelOperational, ServiceRestart, ServiceFailed} {
		require.True(t, types[typ], "the corpus has no entry giving %q", typ)
	}
}

func TestDefaultUnits(t *testing.T) {
	u := DefaultUnits()
	require.Len(t, u, 15)
	require.True(t, slices.IsSorted(u[2:]), "kept sorted after dream and kloros, as SPEC §1.4 lists them")
	u[0] = "changed"
	require.Equal(t, "dream.service", DefaultUnits()[0], "a fresh slice each call")
}

// TestPhaseUnit: the phase checks of §2.1 (no default unit has "phase" in
// its name, so they are here rather than in the corpus replay).
func TestPhaseUnit(t *testing.T) {
	for _, c := range []struct{ msg, want string }{
		{"epoch 12 complete", PhaseComplete},
		{"PHASE finished in 41m", PhaseComplete},
		{"phase timeout after 2h", PhaseTimeout},
		{"phase failed: judge crashed", PhaseError},
		{"0 failed, 12 passed", ""},
	} {
		require.Equal(t, c.want, Unit("klr-phase-runner.service", c.msg, 6), c.msg)
	}
}

func TestMissingPriority(t *testing.T) {
	require.Equal(t, "", Unit("kloros.service", "ValueError: x", -1), "no PRIORITY: not a unit error")
	require.Equal(t, KernelOperational, Kernel("I/O error, dev sda", -1), "no PRIORITY on a kernel line: eligible")
}

func TestNegation(t *testing.T) {
	for _, c := range []struct {
		s, kw string
		want  bool
	}{
		{"0 errors", "error", false},
		{"no errors", "error", false},
		{"errorless", "error", false},
		{"error-free run", "error", false},
		{"errors=0", "error", false},
		{"errors: 0", "error", false},
		{"error: none", "error:", false},
		{"failed: 0, skipped: 1", "failed:", false},
		{"failed: 0", "failed:", false},
		{"non-critical", "critical", false},
		{"nonfatal", "fatal", false},
		{"error: 0 bytes written", "error:", true},
		{"error: 0x1f", "error:", true},
		{"error 4 in libc", "error", true},
		{"piano errors", "error", true},
		{"no errors here, but error: disk", "error", true},
	} {
		require.Equal(t, c.want, mention(c.s, c.kw), "mention(%q, %q)", c.s, c.kw)
	}
}

// colonyClassify is SPEC §1.4 (and §2.1 for units) read literally:
// case-insensitive substrings, no word boundaries, no negation.
func colonyClassify(unit, message string, priority int) string {
	m := strings.ToLower(message)
	has := func(ws ...string) bool {
		for _, w := range ws {
			if strings.Contains(m, w) {
				return true
			}
		}
		return false
	}
	if unit == "kernel" {
		switch {
		case has("[err]", "oops", "panic", "bug:", "firmware crash", "fw crash", "hardware error", "mce:", "segfault",
			"general protection fault", "ser catches error"):
			return KernelCritical
		case has("error", "failed", "failure", "timeout", "i/o error", "badaddr", "halt", "warning"):
			return KernelOperational
		}
		return ""
	}
	u := strings.ToLower(unit)
	switch {
	case strings.Contains(u, "dream") && has("promotion"):
		return DreamPromotion
	case strings.Contains(u, "dream") && has("survivor", "generation"):
		return DreamGeneration
	case strings.Contains(u, "dream") && has("failed", "error"):
		return DreamError
	case strings.Contains(u, "phase") && has("complete", "finished"):
		return PhaseComplete
	case strings.Contains(u, "phase") && has("timeout"):
		return PhaseTimeout
	case strings.Contains(u, "phase") && has("failed"):
		return PhaseError
	case has("oom", "out of memory"):
		return GPUOOM
	case has("lock") && has("contention"):
		return LockContention
	case priority >= 0 && priority <= 4 && has(unitErrorKeywords...):
		if has("critical", "fatal", "oom", "crash") {
			return ErrorCritical
		}
		return ErrorOperational
	}
	return ""
}

func BenchmarkUnit(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Unit("kloros-policy-engine.service", "policy evaluation error: rule 7 missing while loading /etc/kloros/policy.yaml", 3)
	}
}

func TestManagerFields(t *testing.T) {
	n, ok := RestartCounter("kloros.service: Scheduled restart job, restart counter is at 12.")
	require.True(t, ok)
	require.Equal(t, 12, n)
	_, ok = RestartCounter("kloros.service: Scheduled restart job.")
	require.False(t, ok)
	require.Equal(t, "exit-code", Result("kloros.service: Failed with result 'exit-code'."))
	require.Equal(t, "", Result("kloros.service: Failed with result"))
}
