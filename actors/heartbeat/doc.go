// Package heartbeat is the heartbeat monitor: it knows every zooid that
// beats on ChemBus and reports the ones that fall silent.
//
// Actors:
//   - Registry (NewRegistry): receives *messages.HeartbeatReceived and
//     *messages.KillReceived from the ChemBus actor, and
//     *messages.ZooidWentSilent / *messages.ZooidRecovered from its watchers;
//     keeps one zooidState per zooid, spawns one Watcher per zooid (bounded by
//     MaxZooids, forgetting zooids silent past Retention), books episodes,
//     repeats open gaps every GapRepeat, publishes CAPABILITY_RESTORED, and
//     checkpoints its state (registry.json) from a goroutine it owns.
//   - Watcher: one per zooid; keeps that zooid's deadline in the shared
//     deadline heap (deadlines.go: one timer for all zooids), verifies a
//     silence (the Pipeline, the lag probe) and sends *messages.Publish
//     (CAPABILITY_GAP) to the ChemBus actor.
//
// The lag probe notices when this process itself was not running (SIGSTOP,
// starvation) and re-arms deadlines instead of reporting every zooid.
// heartbeat does not import chembus: it asks the bus in front of it only
// through the Pipeline interface.
//
// Time: the registry, the watchers, the deadline heap and the lag probe read
// and wait for time only through Deps.Clock (clock.NewTimer for their
// timers), so tests drive them with a clock.Fake and check a gap to the
// nanosecond instead of sleeping. What still runs on real time: the
// registry's once-a-second sweep and its checkpoint timers (the shared
// timer grid; tests send sweepTick themselves), the checkpoint writer's
// retry backoff, and the bus watermark's emptyAt (the ChemBus actor's
// socket time; a fake clock is only used without one).
//
// A zooid restart is inferred only from a heartbeat whose uptime_s went
// down and is shorter than the time since its previous heartbeat (the
// process says it started after we last heard from it). processed_count
// never counts: the colony's is the size of its 60 s duplicate window, and
// its uptime_s is wall-clock time, so no restart is ever inferred for it.
package heartbeat
