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
//	└── http                    the dashboard, /api/v1, /metrics, /healthz, /readyz
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
// DefaultConfig and Validate), a tree_<name>.go here declaring its ChildSpec,
// in Config one import, one field, one line in DefaultConfig and one in
// Check (plus path expansion in Resolve if it takes paths), one function
// listed in sourceGroupSpecs, and its section in deploy/kloros/observer.yaml
// (test/deploy_test.go checks the sample covers every key). Flags, metrics
// and a row on the page (sourcesAdapter in tree_web.go) are optional.
//
// Restart policy. Every supervisor restarts a failed child after a capped,
// jittered exponential backoff (supervision.backoff_initial 100 ms doubling to
// backoff_max 10 s, ±50%). A child that fails more than max_restarts (5) times
// in window (30 s) is stopped, the failure logged and escalated: its group is
// restarted whole, and an escalation that reaches the root ends the process
// with exit status 1 so systemd restarts it. An actor that reports a bad
// setting (actors.ConfigError) is stopped, not restarted: it cannot heal.
// (Config.Check finds bad settings before the tree starts: exit 2.)
// Restarts, failures and escalations are
// counted by actor kind (kloros_observer_actor_restarts_total etc.). Panics in
// goroutines an actor owns are recovered and reported to that actor, which
// fails and is restarted like any other.
//
// Bounded mailboxes. Every actor a source can flood (dispatcher, rules,
// emitter, spool, ChemBus, registry) has a mailbox bounded at
// supervision.mailbox_size (10,000): the newest message is dropped and counted
// by actor (kloros_observer_mailbox_dropped_messages_total); control messages
// (durability barriers, poison pills) are never dropped. Queues grow lazily,
// so 100k idle watchers cost nothing.
//
// Ordered shutdown on SIGINT/SIGTERM: sources stop first, then the
// dispatcher, the rules, the outputs (emitter, spool, ChemBus), then the rest
// — each drains what is already in its mailbox, bounded overall by
// shutdown_timeout (5 s). The final statistics are logged; exit status 0.
//
// sd_notify (systemd.go): READY=1 once every actor of the tree has started;
// STATUS= every systemd.status_interval; WATCHDOG=1 every WatchdogSec/2 only
// while the root supervisor and the emitter, dispatcher and zooid registry
// answer a probe within systemd.watchdog_probe_timeout (2 s); STOPPING=1 at
// shutdown.
package supervision
