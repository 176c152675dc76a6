package emit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/messages"
)

// The 1 h dedup survives a restart (issue 15 #2: kill -9 then a replayed
// journal entry wrote a second intent): from the checkpoint written at stop,
// from the intents already in the queue directory when no checkpoint names
// them (a kill between the rename and the checkpoint), and from the
// orchestrator's processed/ archive.
func TestEmitterDedupSurvivesRestart(t *testing.T) {
	base := t.TempDir()
	cfg := emitterCfg(filepath.Join(base, "intents"))
	cfg.DedupFile = filepath.Join(base, "emitter", "dedup.json")
	deps := actortest.Deps(t, nil)
	run := func(cfg EmitterConfig, reasons ...string) []any {
		s := actortest.NewSystem(t)
		p, ch := actortest.Probe(t, s)
		em := s.Root.Spawn(actor.PropsFromProducer(NewEmitter(cfg, deps)))
		var out []any
		for _, r := range reasons {
			s.Root.Send(em, &messages.EmitIntent{Intent: intent(r), ReplyTo: p})
			select {
			case m := <-ch:
				out = append(out, m)
			case <-time.After(5 * time.Second):
				t.Fatal("no answer")
			}
		}
		require.NoError(t, s.Root.StopFuture(em).Wait())
		return out
	}
	written := func(m any) bool { _, ok := m.(*messages.IntentWritten); return ok }
	dropped := func(m any) bool { d, ok := m.(*messages.IntentDropped); return ok && d.Reason == "duplicate" }

	// Checkpoint at stop.
	out := run(cfg, "a")
	require.True(t, written(out[0]))
	require.FileExists(t, cfg.DedupFile)
	require.True(t, dropped(run(cfg, "a")[0]), "a again after a restart: from the checkpoint")

	// On disk but in no checkpoint (the daemon was killed in between).
	noCkpt := cfg
	noCkpt.DedupFile = ""
	require.True(t, written(run(noCkpt, "b")[0]))
	require.True(t, dropped(run(cfg, "b")[0]), "b again: from the queue directory")

	// Moved by the orchestrator into its archive.
	require.True(t, written(run(noCkpt, "c")[0]))
	files, _ := filepath.Glob(filepath.Join(cfg.Dir, "*.json"))
	arch := filepath.Join(cfg.Dir, "processed", "deduplicated")
	require.NoError(t, os.MkdirAll(arch, 0o700))
	for _, f := range files {
		require.NoError(t, os.Rename(f, filepath.Join(arch, "20261130_030000_deduplicated_"+filepath.Base(f))))
	}
	require.NoError(t, os.Remove(cfg.DedupFile))
	out = run(cfg, "c", "d")
	require.True(t, dropped(out[0]), "c again: from the processed archive")
	require.True(t, written(out[1]), "a new intent is still written")
}
