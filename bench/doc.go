// Package bench holds black-box benchmarks over a real actor system: events
// through the dispatcher and rules, durable intent emission beside the raw
// fsync rate, and the ChemBus heartbeat monitor. Results and the commands
// that produced them are in RESULTS.md; compare runs with benchstat.
package bench
