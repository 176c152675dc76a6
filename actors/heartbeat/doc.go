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
package heartbeat
