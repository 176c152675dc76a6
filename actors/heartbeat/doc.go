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
//
// Deadlines. One watcher actor per zooid keeps
// that zooid's deadline — no periodic scan — so CAPABILITY_GAP goes out at
// the threshold, not up to 15 s later as in the seed (10,000 zooids expiring
// in the same instant: p99 under 45 ms on the 2-core VM). Deadlines are armed
// in one timer goroutine shared by all watchers (deadlines.go; not a Go timer
// and a goroutine per watcher); heartbeats only update the zooid's last-beat
// time, and the timer moves a deadline the zooid has since beaten past on its
// own, so a healthy colony costs about one wake-up a second. Watchers run on
// a synchronized dispatcher, so an expiry runs the watcher directly, with no
// goroutine started per expiry.
//
// Episodes. A silence opens an episode: one CAPABILITY_GAP (ecosystem
// "monitoring", intensity 1.0, facts gap_type "heartbeat_missing", gap_name
// "heartbeat_<zooid>", zooid, niche, last_seen, missing_seconds) with a fresh
// incident_id ("hbgap-" and 16 hex digits), repeated with the same id every
// heartbeat.gap_repeat if set (facts then carry "repeat": true). Duplicates
// and the Python peers' double-tap only reset a deadline, so they never open a
// second episode. When the zooid beats again the episode closes, is logged as
// a recovery and, with publish_recovery, announced on recovery_topic
// (CAPABILITY_RESTORED) with the same incident_id and silent_seconds. A
// silenced zooid's episode still opens (history, page) but publishes nothing
// until the silence ends. Zooids silent longer than Retention (24 h) are
// forgotten; at most MaxZooids (100,000) are tracked, new names past that are
// refused and counted.
//
// Our own restarts. Zooids, niches, last-seen times and open episodes are
// checkpointed atomically to <state_dir>/heartbeat/registry.json every
// CheckpointEvery (5 s) and at once when an episode opens or closes. After a
// restart (even kill -9) every known zooid gets one threshold of grace; one
// that never beats again is reported once; an episode announced before the
// restart is not announced again.
//
// Our own stalls. The lag probe ticks every second. If this process was not
// running (SIGSTOP, a VM pause, starvation), deadlines that expire meanwhile
// are re-armed for one threshold instead of reported — the heartbeats queued in
// the socket arrive within it — so there is no gap storm from our own stall.
// Wall-clock jumps are logged; deadlines are monotonic.
//
// A good citizen: the daemon publishes its own HEARTBEAT every 10 s (zooid
// kloros_observer, niche monitoring; unlike today's producers its uptime_s is
// a real uptime and processed_count the heartbeats it has received), so it
// watches itself like any other zooid. On governance.kill it pauses gap
// publishing and says so (on_kill=pause, the default; silences are still
// tracked and logged), ignores it, or shuts down in order (exit).
package heartbeat
