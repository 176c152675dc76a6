package classify

import (
	"strconv"
	"strings"
)

// Event types produced here.
const (
	DreamPromotion    = "dream_promotion"
	DreamGeneration   = "dream_generation"
	DreamError        = "dream_error"
	PhaseComplete     = "phase_complete"
	PhaseTimeout      = "phase_timeout"
	PhaseError        = "phase_error"
	GPUOOM            = "gpu_oom"
	LockContention    = "lock_contention"
	ErrorOperational  = "error_operational"
	ErrorCritical     = "error_critical"
	KernelCritical    = "error_kernel_critical"
	KernelOperational = "error_kernel_operational"
	ServiceRestart    = "service_restart" // systemd scheduled a restart of a unit (data: restart_counter)
	ServiceFailed     = "service_failed"  // systemd says a unit failed (data: result)
)

// DefaultUnits are the units the colony's observer watches by default
// (SPEC §1.4).
func DefaultUnits() []string {
	return []string{
		"dream.service",
		"kloros.service",
		"kloros-capability-integrator.service",
		"kloros-curiosity-core-consumer.service",
		"kloros-curiosity-processor.service",
		"kloros-dream-consumer.service",
		"kloros-intent-router.service",
		"kloros-introspection.service",
		"kloros-observer.service",
		"kloros-orchestrator-monitor.service",
		"kloros-policy-engine.service",
		"kloros-winner-deployer.service",
		"klr-investigation-consumer.service",
		"klr-ledger-writer.service",
		"klr-semantic-dedup.service",
	}
}

// unitErrorKeywords are the colony's unit error keywords (SPEC §1.4).
var unitErrorKeywords = []string{"error:", "exception", "traceback", "failed:", "failure:", "critical:", "fatal:",
	"valueerror", "typeerror", "keyerror", "attributeerror", "indexerror"}

// plainErrorWords also make an error at PRIORITY ≤ 3 (err and worse), where
// the sender itself said it is an error: "Failed to connect to …" at err is
// one, though it has none of the colony's keywords.
var plainErrorWords = []string{"error", "failed", "failure"}

// Entry classifies an entry of the units source (kernel false) or the
// kernel source (kernel true). priority is the syslog PRIORITY (0 emerg … 7
// debug), -1 when absent. It returns "" when the entry is no event.
func Entry(unit, message string, priority int, kernel bool) string {
	if kernel {
		return Kernel(message, priority)
	}
	return Unit(unit, message, priority)
}

// Unit classifies an entry of a unit (SPEC §2.1 then §1.4), first match wins.
func Unit(unit, message string, priority int) string {
	u, m := strings.ToLower(unit), strings.ToLower(message)
	if strings.Contains(u, "dream") {
		switch {
		case anyMention(m, "promotion"):
			return DreamPromotion
		case anyMention(m, "survivor", "generation"):
			return DreamGeneration
		case anyMention(m, "failed", "error"):
			return DreamError
		}
	}
	if strings.Contains(u, "phase") {
		switch {
		case anyMention(m, "complete", "finished"):
			return PhaseComplete
		case anyMention(m, "timeout"):
			return PhaseTimeout
		case anyMention(m, "failed"):
			return PhaseError
		}
	}
	switch {
	case wordStart(m, "oom") || mention(m, "out of memory"):
		return GPUOOM
	case mention(m, "lock") && mention(m, "contention"):
		return LockContention
	}
	if priority < 0 || priority > 4 {
		return ""
	}
	if anyMention(m, unitErrorKeywords...) || (priority <= 3 && anyMention(m, plainErrorWords...)) {
		if anyMention(m, "critical", "fatal", "crash") || wordStart(m, "oom") {
			return ErrorCritical
		}
		return ErrorOperational
	}
	return ""
}

// Manager classifies systemd's own message about a unit (PID 1's, from
// init.scope with UNIT=, or a user manager's with USER_UNIT=): only the two
// lines that say a unit failed or is being restarted are events.
//
//   - "<unit>: Scheduled restart job, restart counter is at N." →
//     service_restart (RestartCounter reads N), what the default rules'
//     service_restarts counts;
//   - "<unit>: Failed with result 'exit-code'." → service_failed (Result
//     reads the result). It precedes every automatic restart, so it is a
//     type of its own, not counted as a restart.
//
// Everything else systemd says about a unit ("Started …", "Main process
// exited, …", "Consumed 1.2s CPU time", "Failed to start …", which follows a
// failed result) is no event: the unit-error keywords are for the unit's
// own output, and reading them here would report each failure twice.
// The priority does not matter (systemd logs these at notice and warning).
func Manager(message string) string {
	switch {
	case strings.Contains(message, "Scheduled restart job, restart counter is at "):
		return ServiceRestart
	case strings.Contains(message, "Failed with result '"):
		return ServiceFailed
	}
	return ""
}

// RestartCounter reads N from systemd's "Scheduled restart job, restart
// counter is at N." (false when there is none).
func RestartCounter(message string) (int, bool) {
	_, rest, ok := strings.Cut(message, "restart counter is at ")
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(rest[:end])
	return n, err == nil
}

// AddFields adds to an event's data what its type carries besides the
// message: restart_counter for service_restart, result for service_failed.
func AddFields(typ, message string, data map[string]any) {
	switch typ {
	case ServiceRestart:
		if n, ok := RestartCounter(message); ok {
			data["restart_counter"] = n
		}
	case ServiceFailed:
		if r := Result(message); r != "" {
			data["result"] = r
		}
	}
}

// Result reads the result of systemd's "Failed with result 'exit-code'."
// ("" when there is none).
func Result(message string) string {
	_, rest, ok := strings.Cut(message, "Failed with result '")
	if !ok {
		return ""
	}
	r, _, ok := strings.Cut(rest, "'")
	if !ok {
		return ""
	}
	return r
}

// Kernel classifies a kernel message (SPEC §1.4).
//
// Critical at any PRIORITY (a segfault or a general protection fault in a
// user process is logged at info); "mce:" only at PRIORITY ≤ 4, since every
// boot logs informational "mce: CPU0: Thermal monitoring enabled" lines.
// The kernel's out-of-memory kill ("Out of memory: Killed process …") is
// critical too. Operational only at PRIORITY ≤ 5: info and debug kernel
// lines mentioning errors are boot chatter ("RAS: Correctable Errors
// collector initialized"). The echo of the kernel command line is no event
// (it lists parameters such as panic=10).
func Kernel(message string, priority int) string {
	m := strings.ToLower(message)
	if strings.HasPrefix(m, "command line:") || strings.HasPrefix(m, "kernel command line:") {
		return ""
	}
	if anyMention(m, "[err]", "firmware crash", "fw crash", "hardware error", "segfault", "general protection fault",
		"ser catches error", "out of memory") ||
		wordStart(m, "oops") || wordStart(m, "panic") || wordStart(m, "bug:") ||
		(priority <= 4 && mention(m, "mce:")) {
		return KernelCritical
	}
	if priority <= 5 && anyMention(m, "error", "failed", "failure", "timeout", "i/o error", "badaddr", "halt", "warning") {
		return KernelOperational
	}
	return ""
}

// anyMention reports whether s mentions any of kws (see mention).
func anyMention(s string, kws ...string) bool {
	for _, kw := range kws {
		if mention(s, kw) {
			return true
		}
	}
	return false
}

// mention reports whether lower-cased s contains kw at least once in a form
// that does not say there was none.
func mention(s, kw string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], kw)
		if j < 0 {
			return false
		}
		at := i + j
		if !negated(s, at, kw) {
			return true
		}
		i = at + 1
	}
}

// wordStart is mention for a keyword that counts only at the start of a word.
func wordStart(s, kw string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], kw)
		if j < 0 {
			return false
		}
		at := i + j
		if (at == 0 || !isLetter(s[at-1])) && !negated(s, at, kw) {
			return true
		}
		i = at + 1
	}
}

// negators, as the word right before a keyword, say it did not happen.
var negators = map[string]bool{"0": true, "no": true, "zero": true, "without": true, "not": true, "never": true}

// negated reports whether the occurrence of kw at s[at:] says "none": it
// follows a negator word ("no errors", "0 failures", "without error") or
// "non" ("non-critical", "nonfatal"), it is "…less" or "…-free"
// ("errorless", "error-free"), or a zero count follows it ("failed: 0",
// "errors=0", "error: none").
func negated(s string, at int, kw string) bool {
	before := s[:at]
	if strings.HasSuffix(before, "non-") || strings.HasSuffix(before, "non") {
		return true
	}
	b := strings.TrimRight(before, " \t")
	k := len(b)
	for k > 0 && (isLetter(b[k-1]) || isDigit(b[k-1])) {
		k--
	}
	if k < len(b) && len(b) < len(before) && negators[b[k:]] {
		return true
	}
	after := s[at+len(kw):]
	if strings.HasPrefix(after, "less") || strings.HasPrefix(after, "-free") || strings.HasPrefix(after, " free") {
		return true
	}
	sep := strings.HasSuffix(kw, ":")
	if !sep {
		after = strings.TrimPrefix(after, "s")
		if len(after) > 0 && (after[0] == ':' || after[0] == '=') {
			after, sep = after[1:], true
		}
	}
	if !sep {
		return false
	}
	after = strings.TrimLeft(after, " \t")
	if strings.HasPrefix(after, "none") {
		return true
	}
	if !strings.HasPrefix(after, "0") {
		return false
	}
	rest := after[1:]
	if rest == "" {
		return true
	}
	switch c := rest[0]; {
	case isDigit(c) || isLetter(c) || c == '.':
		return false // 0x1f, 0.5, 05
	case c == ' ' || c == '\t':
		r := strings.TrimLeft(rest, " \t")
		return r == "" || !isLetter(r[0]) // "failed: 0, skipped: 1" yes; "error: 0 bytes written" no
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
