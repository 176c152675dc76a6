// Package rules is the observer's rule engine: rules are data (YAML rule
// files, README.md in this directory describes every field), the Go code
// holds the kinds.
//
// # Shape
//
//   - Load(paths, overrides) reads rule files whole — every problem of every
//     file reported at once as file:line:col, like Prometheus' rulefmt — and
//     returns an immutable *Set. No paths: the default file embedded in the
//     binary (default.yaml, DefaultFile). overrides are the main config's
//     rules.<name> maps, checked against the parameters a rule declares.
//   - A *Compiled rule has Name, Hash (its definition and parameter values),
//     Kind, Subscribes and TickEvery; New makes an *Instance, which is a Rule
//     (OnEvent/OnTick, pure: no goroutine, timer or clock of its own) and is
//     Stateful (Snapshot/Restore of its windows and cooldowns).
//   - Kinds are registered by name (RegisterKind panics on a duplicate, as
//     Caddy's RegisterModule): match, count, absence, rate, phase_report.
//   - Actor runs one Rule for the supervision tree: events and batches from
//     the dispatcher, its own tick, Flush forwarded to the emitter after the
//     intents of earlier events, SnapshotRequest answered with the rule's
//     state. It releases its tick timer on Stopping and Restarting.
//   - WriteCheckpoint / ReadCheckpoint / Applicable / Factory / Collect
//     carry rule state across restarts, keyed by Hash: a changed rule starts
//     empty (logged), the others resume.
//   - Sim runs a whole set on a given clock: the engine of `kloros-observer
//     rules test` (RunTestFile) and `rules replay` (Replay, ReadSpool).
//
// # Why expr-lang/expr
//
// Conditions, computed values and intent templates are expr-lang/expr
// (github.com/expr-lang/expr) expressions, not google/cel-go:
//
//   - Type checking against a declared environment: types.Map describes the
//     event (type, source, ts, data), each rule's params with their types,
//     its let values and its kind's window, so `data.value > "3"` or a
//     misspelt name fails at load with line and column.
//   - The hot path is cheap: an expr program runs on a reusable VM over a
//     plain map, with no protobuf values to build per event (cel-go
//     evaluates over ref.Val wrappers and its activation interfaces); with
//     data.X members flattened into one map lookup each, a rule's condition
//     costs a few hundred nanoseconds, which BenchmarkPipeline needs.
//   - It is sandboxed (no I/O, no unbounded loops; now() and date() are
//     disabled here so replays and tests are deterministic), small (no
//     protobuf or ANTLR runtime in the binary), and its syntax — ternaries,
//     `matches`, `in`, `map`/`filter` closures, `??` — reads like the
//     conditions operators write.
//   - cel-go's advantages (a standard, cost estimation) matter less for rules
//     written by the operators of one colony and checked by `rules check`.
//
// # Deliberate exception
//
// The phase_report kind reads the PHASE report a phase_signal event points
// at inside OnEvent: one local file, bounded by max_bytes, a few times a
// day. Every other kind does no I/O.
package rules
