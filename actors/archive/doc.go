// Package archive keeps intents past their age instead of deleting them
// (issue 14.6), and reads them back for intentctl.
//
// It is not an actor. The emitter's prune chore calls Sweep on its writer
// goroutine; intentctl calls Sweep (prune), the readers (archive
// list|show|grep) and Replay. Everything it writes is durable before anything
// is removed:
//
//   - Archive: <state_dir>/archive/intents-YYYY-MM-DD.jsonl.gz, one file per
//     UTC day of archiving. Each Sweep appends one gzip member per batch
//     holding JSON lines {"archived_at","file","sha256","body"} — body is the
//     intent file's exact bytes, so an archived intent still verifies. The
//     member is compressed in memory, appended with one write under an
//     exclusive flock and fsynced (the directory too when the file is new);
//     only then are the queue files removed and the queue directory fsynced.
//     A crash mid-append leaves a torn last member and the queue files still
//     in place: the next append truncates the torn tail (it was never
//     acknowledged) and readers skip a damaged member by resynchronising on
//     the next gzip header, so earlier members are never lost. A crash
//     between the fsync and the removal archives those intents twice;
//     readers drop the repeat (same file name and sha256).
//   - Retention (Expire, run by the emitter after each Sweep): day files
//     older than Config.Retention (default 90 days) are removed, then the
//     oldest further ones while the archive is over Config.MaxBytes (default
//     1 GiB); today's file is never removed.
//   - Quarantine: a queue file past its age that fails verification (tampered,
//     corrupt, not an intent) is moved to <state_dir>/quarantine/<name> with a
//     sidecar <name>.reason saying why, from where and when — never deleted.
//     Names that do not parse are left alone (SPEC §1.1) and returned.
//
// The orchestrator owns <intents_dir>/processed/ (SPEC §1.4). Sweep reads
// only the top level of the queue directory and never descends, and the
// archive and quarantine may not live under processed/ (Config.Validate).
// ListProcessed reads that subtree, read-only, so intentctl can show an
// intent's whole life: pending, processed by the orchestrator, archived.
//
// Why not a subscriber of the observation stream (CONVENTIONS: new outputs
// subscribe): the archive is the queue's retention, not a tap of intents as
// they are written. It must hold what is left in the queue once the
// orchestrator has had its 24 h — the bytes the orchestrator saw, after it
// consumed what it consumed — and it must remove those files only once
// they are durable in the archive. Only the owner of the queue directory's
// writes (the emitter's writer goroutine, which already serialises the
// prune with writes) can do that without racing itself.
//
// Replay puts archived intents back into the queue as new intents: same
// intent_type, priority and reason, generated_at and emitted_at now (the
// orchestrator moves intents whose generated_at is over 24 h old to
// processed/stale), and data gains a "replayed_from" object naming the
// archived file, its sha256, its archive day file and its original
// generated_at. No top-level key is added, so the file keeps the exact
// byte format the Python verifier checks.
package archive
