// Package supervision builds and runs the daemon's supervision tree: the
// tree as data (ChildSpec, tree.go and one tree_<area>.go per area), the
// restart policy (strategies.go: capped, jittered exponential backoff that
// escalates past its intensity; deciders.go: bad config stops, anything else
// restarts), bounded mailboxes (mailbox.go), sd_notify (systemd.go), the
// configuration that composes every component's own settings (config.go)
// and Run, which starts the tree, waits for the context and drains it by
// phase (sources, then the dispatcher, rules, outputs, support) within the
// shutdown timeout.
//
// The tree (kloros-observer --print-tree prints the live one):
//
//	kloros                      root; an escalation here ends the process non-zero
//	├── emitter                 intents → the orchestrator's queue        (outputs start first)
//	├── spool                   subscribes to the stream's events → events dir
//	├── housekeeping            stats line
//	├── chembus_proxy           embedded XSUB/XPUB proxy when none is bound
//	├── chembus                 SUB HEARTBEAT/governance.kill, PUB gaps and our heartbeat
//	├── zooids                  heartbeat registry; one watcher per zooid below it
//	├── rules/                  one actor per rule
//	├── dispatcher              dedup, publish to the stream, route to rules
//	├── sources/                fswatch, journald_units, journald_systemd, journald_kernel, scrape:N, deadletter, systemd_audit
//	└── http                    /metrics, /healthz, /readyz
//
// Events and what the daemon does flow as messages between those actors; in
// parallel every producer publishes what it saw or did on the observation
// stream (actors/observe), created here with the actor system and handed to
// every actor in actors.Deps:
//
//	dispatcher ──events+verdict──┐
//	emitter ─────intents─────────┤
//	rule actors ─firings─────────┤──> observe.Stream ──> spool (actor, barrier)
//	zooids ──gaps, zooids────────┤                  ──> dashboard rings, SSE, tap (channels)
//	restart policy ─actors───────┤                  ──> kloros_observer_stream_* metrics
//	sources ─────health──────────┘
//
// Adding a source is its package under actors/ (actor, config type with
// DefaultConfig and Validate), one field in Config, one line in Validate and
// one function listed in sourceGroupSpecs.
package supervision
