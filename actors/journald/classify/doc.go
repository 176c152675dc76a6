// Package classify turns one journal entry into an event type, the way the
// colony's Python observer does (SPEC §1.4, after the unit-specific checks
// of §2.1), with fewer false positives and fewer missed errors where we
// deliberately differ (see README "Compared with the colony's observer" and
// the `colony` column of testdata/corpus.tsv, which records, line by line,
// what the colony gives where it differs from us).
//
// Unit entries (Unit): the unit-specific checks first — a unit whose name
// contains "dream" (promotion, survivor/generation, failed/error), one whose
// name contains "phase" (complete/finished, timeout, failed), then for every
// unit OOM (gpu_oom) and lock contention — then, at PRIORITY ≤ 4, the unit
// error keywords (error_operational, or error_critical when the text also
// says critical/fatal/oom/crash).
//
// Kernel entries (Kernel) are classified on their own: error_kernel_critical
// (oops, panic, BUG:, MCE, segfault, ...), error_kernel_operational (error,
// failed, timeout, ...), and nothing for other kernel chatter.
//
// systemd's own messages about a unit (Manager; PID 1 from init.scope with
// UNIT=, a user manager with USER_UNIT=): "Scheduled restart job, restart
// counter is at N" is service_restart, "Failed with result 'X'" is
// service_failed, the rest nothing; AddFields adds restart_counter and
// result to the event's data.
//
// Words are matched case-insensitively. A mention that says there was none
// ("0 errors", "no failures", "errorless", "error-free", "failed: 0",
// "non-critical") does not count; "oom", "oops", "panic" and "bug:" count
// only at the start of a word ("room", "loops", "debug:" do not).
//
// The functions are pure and allocation-light; the journald source calls
// them for every entry it reads.
package classify
