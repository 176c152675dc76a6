package journald

import "strings"

// ClassifyJournal maps a journal entry to an event type (SPEC §2.1, first
// match wins), "" for none. unit is _SYSTEMD_UNIT (or SYSLOG_IDENTIFIER);
// priority is the syslog PRIORITY (0 emerg … 7 debug), -1 if absent.
//
// Error keywords (case-insensitive): error, failed, failure, exception,
// traceback, panic, critical, fatal, crash, oom. Of those, critical, fatal,
// oom and crash make an error critical.
func ClassifyJournal(unit, message string, priority int) string {
	u, m := strings.ToLower(unit), strings.ToLower(message)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(m, w) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.Contains(u, "dream") && has("promotion"):
		return "dream_promotion"
	case strings.Contains(u, "dream") && has("survivor", "generation"):
		return "dream_generation"
	case strings.Contains(u, "dream") && has("failed", "error"):
		return "dream_error"
	case strings.Contains(u, "phase") && has("complete", "finished"):
		return "phase_complete"
	case strings.Contains(u, "phase") && has("timeout"):
		return "phase_timeout"
	case strings.Contains(u, "phase") && has("failed"):
		return "phase_error"
	case has("oom", "out of memory"):
		return "gpu_oom"
	case has("lock") && has("contention"):
		return "lock_contention"
	case priority >= 0 && priority <= 4 && has("error", "failed", "failure", "exception", "traceback", "panic", "critical", "fatal", "crash"):
		if has("critical", "fatal", "oom", "crash") {
			return "error_critical"
		}
		return "error_operational"
	}
	return ""
}
