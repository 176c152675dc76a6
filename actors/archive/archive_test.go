package archive

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/intentfile"
	"github.com/kloros/kloros-observer/messages"
)

const python = "/usr/bin/python3"

// pythonVerify runs testdata/verify_intents.py (the orchestrator's check)
// over files and fails the test if any does not verify.
func pythonVerify(t *testing.T, files ...string) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is needed: apt-get install python3", python)
	}
	require.NotEmpty(t, files)
	out, err := exec.Command(python, append([]string{"testdata/verify_intents.py"}, files...)...).CombinedOutput()
	require.NoError(t, err, "python verifier:\n%s", out)
	require.Equal(t, len(files), strings.Count(string(out), "ok "), "%s", out)
}

type fixture struct {
	state, intents string
	arch           *Archive
	fixtures       map[string][]byte // python fixtures copied into the queue
	processed      map[string][]byte // files under processed/
}

// newFixture makes a state dir with a queue holding the colony's five
// Python-written intents (all from 2026-11-22, so older than a day), and an
// orchestrator processed/ subtree.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{state: t.TempDir(), fixtures: map[string][]byte{}, processed: map[string][]byte{}}
	f.intents = filepath.Join(f.state, "intents")
	require.NoError(t, os.MkdirAll(f.intents, 0o700))
	src, err := filepath.Glob("testdata/python-intents/*.json")
	require.NoError(t, err)
	require.Len(t, src, 5)
	for _, s := range src {
		b, err := os.ReadFile(s)
		require.NoError(t, err)
		f.fixtures[filepath.Base(s)] = b
		require.NoError(t, os.WriteFile(filepath.Join(f.intents, filepath.Base(s)), b, 0o600))
	}
	// The orchestrator's own moves: old enough, and even a bad one, must stay.
	first := sortedKeys(f.fixtures)[0]
	for rel, body := range map[string][]byte{
		"processed/stale/20261123_101500_stale_" + first:                                    f.fixtures[first],
		"processed/deduplicated/20261123_101501_duplicate_1000_alert_gpu_oom_0123abcd.json": []byte("{}"),
		"processed/queue_overflow/20261123_101502_queue_overflow_" + first:                  []byte("not json"),
	} {
		p := filepath.Join(f.intents, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, body, 0o600))
		f.processed[p] = body
	}
	f.arch = New(DefaultConfig(f.state))
	return f
}

func (f *fixture) requireProcessedIntact(t *testing.T) {
	t.Helper()
	for p, body := range f.processed {
		got, err := os.ReadFile(p)
		require.NoError(t, err, "the orchestrator's %s must survive", p)
		require.Equal(t, body, got, p)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func write(t *testing.T, dir string, in messages.Intent, at time.Time) string {
	t.Helper()
	enc, err := intentfile.Encode(&in, at)
	require.NoError(t, err)
	for _, err := range intentfile.CommitBatch(dir, []intentfile.File{{Name: enc.Name, Body: enc.Body}}) {
		require.NoError(t, err)
	}
	return enc.Name
}

func TestSweepArchivesQuarantinesAndLeavesTheRest(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	fresh := write(t, f.intents, messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "fresh",
		Data: messages.Object{}}, now.Add(-time.Hour))
	old := now.Add(-30 * time.Hour)
	tamperedName := write(t, f.intents, messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "tampered",
		Data: messages.Object{}}, old)
	p := filepath.Join(f.intents, tamperedName)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(`"priority": 9`), []byte(`"priority": 10`), 1), 0o600))
	corrupt := "1000_alert_gpu_oom_0123abcd.json"
	require.NoError(t, os.WriteFile(filepath.Join(f.intents, corrupt), []byte("{\"intent_type\": "), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(f.intents, "README.json"), []byte("{}"), 0o600))

	res, err := f.arch.Sweep(f.intents, now.Add(-24*time.Hour), now, false)
	require.NoError(t, err)
	require.ElementsMatch(t, sortedKeys(f.fixtures), res.Archived)
	require.Equal(t, []string{"README.json"}, res.Unparsable)
	require.Len(t, res.Quarantined, 2)
	for name := range f.fixtures {
		require.NoFileExists(t, filepath.Join(f.intents, name))
	}
	require.FileExists(t, filepath.Join(f.intents, fresh), "younger than the cutoff: stays")
	require.FileExists(t, filepath.Join(f.intents, "README.json"), "a name that does not parse: left alone")
	for _, q := range res.Quarantined {
		require.NoFileExists(t, filepath.Join(f.intents, q.File))
		require.FileExists(t, q.Path)
		reason, err := os.ReadFile(q.Path + ".reason")
		require.NoError(t, err)
		require.Contains(t, string(reason), "reason: "+q.Reason)
		require.Contains(t, string(reason), "from: "+filepath.Join(f.intents, q.File))
	}
	reasons := map[string]string{}
	for _, q := range res.Quarantined {
		reasons[q.File] = q.Reason
	}
	require.Contains(t, reasons[tamperedName], "sha256 mismatch")
	require.Contains(t, reasons[corrupt], "unexpected end of input")
	q, err := os.ReadFile(filepath.Join(f.state, "quarantine", tamperedName))
	require.NoError(t, err)
	require.Contains(t, string(q), `"priority": 10`, "quarantined byte for byte")
	f.requireProcessedIntact(t)

	// Read back: the archived bytes are the files' bytes, and still verify
	// with the orchestrator's own check.
	entries, dmg, err := f.arch.Read(Filter{})
	require.NoError(t, err)
	require.Empty(t, dmg)
	require.Len(t, entries, 5)
	out := t.TempDir()
	var paths []string
	for _, e := range entries {
		require.Equal(t, string(f.fixtures[e.File]), e.Body, e.File)
		require.Empty(t, e.VerifyErr)
		require.Equal(t, DayFile(now), e.DayFile)
		p := filepath.Join(out, e.File)
		require.NoError(t, os.WriteFile(p, []byte(e.Body), 0o600))
		paths = append(paths, p)
	}
	pythonVerify(t, paths...)

	// Everything, even the fresh one, with a cutoff in the future: the
	// processed/ subtree is still untouched.
	res, err = f.arch.Sweep(f.intents, now.Add(time.Hour), now, false)
	require.NoError(t, err)
	require.Equal(t, []string{fresh}, res.Archived)
	f.requireProcessedIntact(t)
}

func TestSweepDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	require.NoError(t, os.WriteFile(filepath.Join(f.intents, "1000_x_0123abcd.json"), []byte("{}"), 0o600))
	res, err := f.arch.Sweep(f.intents, now, now, true)
	require.NoError(t, err)
	require.Len(t, res.Archived, 5)
	require.Len(t, res.Quarantined, 1)
	names, err := filepath.Glob(filepath.Join(f.intents, "*.json"))
	require.NoError(t, err)
	require.Len(t, names, 6)
	require.NoDirExists(t, filepath.Join(f.state, "archive"))
	require.NoDirExists(t, filepath.Join(f.state, "quarantine"))
}

// A crash between the archive's fsync and the queue removal archives the
// same files twice: readers show each once.
func TestRepeatAfterCrashIsReadOnce(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	_, err := f.arch.Sweep(f.intents, now, now, false)
	require.NoError(t, err)
	for name, b := range f.fixtures { // as if the removal never happened
		require.NoError(t, os.WriteFile(filepath.Join(f.intents, name), b, 0o600))
	}
	_, err = New(f.arch.Config()).Sweep(f.intents, now, now, false)
	require.NoError(t, err)
	entries, _, err := f.arch.Read(Filter{})
	require.NoError(t, err)
	require.Len(t, entries, 5)
}

// A crash mid-append leaves a torn member: the members before it are read,
// the next append truncates the torn tail, and nothing archived is lost.
func TestTornAppendLosesNothingArchived(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	_, err := f.arch.Sweep(f.intents, now, now, false)
	require.NoError(t, err)
	day := filepath.Join(f.arch.Config().Dir, DayFile(now))
	good, err := os.ReadFile(day)
	require.NoError(t, err)

	member, err := encodeMember([]Record{{ArchivedAt: now, File: "2000_torn_0123abcd.json", Body: "{}"}})
	require.NoError(t, err)
	fh, err := os.OpenFile(day, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.Write(member[:len(member)/2])
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	entries, dmg, err := f.arch.Read(Filter{})
	require.NoError(t, err)
	require.Len(t, entries, 5, "everything archived before the torn member")
	require.Len(t, dmg, 1)
	require.Equal(t, int64(len(good)), dmg[0].Offset)

	// The next process appends: the torn tail goes, the new member follows.
	name := write(t, f.intents, messages.Intent{Type: "alert_gpu_oom", Priority: 9, Reason: "after the crash",
		Data: messages.Object{}}, now.Add(-48*time.Hour))
	res, err := New(f.arch.Config()).Sweep(f.intents, now.Add(-24*time.Hour), now, false)
	require.NoError(t, err)
	require.Equal(t, []string{name}, res.Archived)
	entries, dmg, err = f.arch.Read(Filter{})
	require.NoError(t, err)
	require.Empty(t, dmg)
	require.Len(t, entries, 6)
	after, err := os.ReadFile(day)
	require.NoError(t, err)
	require.Equal(t, good, after[:len(good)], "earlier members are never rewritten")
}

// Damage in the middle (a member overwritten by garbage) hides nothing after it.
func TestReaderResyncsPastADamagedMember(t *testing.T) {
	dir := t.TempDir()
	a := New(Config{Dir: dir, QuarantineDir: filepath.Join(dir, "q")})
	m1, err := encodeMember([]Record{{File: "1000_a_0123abcd.json", Body: "{}"}})
	require.NoError(t, err)
	m3, err := encodeMember([]Record{{File: "3000_c_0123abcd.json", Body: "{}"}})
	require.NoError(t, err)
	bad := append([]byte{0x1f, 0x8b, 0x08, 0, 0}, bytes.Repeat([]byte{0xff}, 40)...)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "intents-2026-11-01.jsonl.gz"),
		append(append(append([]byte{}, m1...), bad...), m3...), 0o600))
	entries, dmg, err := a.Read(Filter{})
	require.NoError(t, err)
	require.Len(t, dmg, 1)
	require.Equal(t, int64(len(m1)), dmg[0].Offset)
	require.Len(t, entries, 2)
	require.Equal(t, "1000_a_0123abcd.json", entries[0].File)
	require.Equal(t, "3000_c_0123abcd.json", entries[1].File)
	// It is still plain gzip: zcat reads the members before the damage.
	zr, err := gzip.NewReader(bytes.NewReader(m1))
	require.NoError(t, err)
	require.NoError(t, zr.Close())
}

func TestRetentionAndSizeBound(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	a := New(Config{Dir: dir, QuarantineDir: filepath.Join(dir, "q"), Retention: 10 * 24 * time.Hour, MaxBytes: 2500})
	for _, d := range []string{"2026-11-01", "2026-11-19", "2026-11-25", "2026-11-28", "2026-11-30"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "intents-"+d+".jsonl.gz"), bytes.Repeat([]byte{1}, 1000), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("kept"), 0o600))
	removed, err := a.Expire(now, false)
	require.NoError(t, err)
	// 11-01 and 11-19 are past 10 days (3000 bytes left); 3000 > 2500
	// drops the oldest, 11-25, and 2000 fits.
	require.Equal(t, []string{"intents-2026-11-01.jsonl.gz", "intents-2026-11-19.jsonl.gz",
		"intents-2026-11-25.jsonl.gz"}, removed)
	left, err := a.DayFiles()
	require.NoError(t, err)
	require.Equal(t, []string{"intents-2026-11-28.jsonl.gz", "intents-2026-11-30.jsonl.gz"}, left)
	// Over the bound with only today's file left: today's stays.
	a = New(Config{Dir: dir, QuarantineDir: filepath.Join(dir, "q"), Retention: time.Hour, MaxBytes: 10})
	removed, err = a.Expire(now, false)
	require.NoError(t, err)
	require.Equal(t, []string{"intents-2026-11-28.jsonl.gz"}, removed)
	left, err = a.DayFiles()
	require.NoError(t, err)
	require.Equal(t, []string{"intents-2026-11-30.jsonl.gz"}, left)
	require.FileExists(t, filepath.Join(dir, "notes.txt"))
}

func TestReplayVerifiesWithPythonAndSaysWhereFrom(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	_, err := f.arch.Sweep(f.intents, now, now, false)
	require.NoError(t, err)
	entries, _, err := f.arch.Read(Filter{Types: []string{"alert_gpu_oom", "curiosity_investigate"}})
	require.NoError(t, err)
	require.Len(t, entries, 2)

	dry, err := Replay(entries, f.intents, now, true)
	require.NoError(t, err)
	require.Len(t, dry, 2)
	left, err := filepath.Glob(filepath.Join(f.intents, "*.json"))
	require.NoError(t, err)
	require.Empty(t, left, "a dry run writes nothing")

	got, err := Replay(entries, f.intents, now, false)
	require.NoError(t, err)
	require.Len(t, got, 2)
	var paths []string
	for i, r := range got {
		paths = append(paths, r.Path)
		require.NoError(t, intentfile.VerifyFile(r.Path))
		ts, typ, _, ok := intentfile.ParseName(r.File)
		require.True(t, ok, r.File)
		require.Equal(t, entries[i].Type, typ)
		require.Equal(t, now.Add(time.Duration(i)*time.Millisecond).UnixMilli(), ts.UnixMilli())
		v, err := intentfile.Parse(r.Body)
		require.NoError(t, err)
		obj := v.(messages.Object)
		data, _ := obj.Get("data")
		from, ok := data.(messages.Object).Get(ReplayedFromKey)
		require.True(t, ok)
		file, _ := from.(messages.Object).Get("file")
		require.Equal(t, entries[i].File, file)
		sha, _ := from.(messages.Object).Get("sha256")
		require.Equal(t, entries[i].SHA256, sha)
		require.Len(t, entries[i].SHA256, 64)
		// Everything else of the original data is kept, in order.
		orig := entries[i].Data
		require.Equal(t, orig, data.(messages.Object)[:len(orig)])
		gen, _ := obj.Get("generated_at")
		require.InDelta(t, intentfile.Epoch(now), float64(gen.(intentfile.Float)), 1, "generated_at is now, or the orchestrator calls it stale")
	}
	pythonVerify(t, paths...)
	f.requireProcessedIntact(t)

	// A replay of a replay names its immediate source, once.
	_, err = f.arch.Sweep(f.intents, now.Add(time.Hour), now, false)
	require.NoError(t, err)
	again, _, err := f.arch.Read(Filter{File: got[0].File})
	require.NoError(t, err)
	require.Len(t, again, 1)
	enc, err := BuildReplay(&again[0], now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(enc.Body), `"replayed_from"`))
	require.Contains(t, string(enc.Body), `"file": "`+got[0].File+`"`)
}

func TestFilter(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	_, err := f.arch.Sweep(f.intents, now, now, false)
	require.NoError(t, err)
	all, _, err := f.arch.Read(Filter{})
	require.NoError(t, err)
	require.Len(t, all, 5)
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].EmittedAt.Before(all[i-1].EmittedAt), "oldest first")
	}
	crit, _, err := f.arch.Read(Filter{ByPriority: true, MinPriority: 9, MaxPriority: 10})
	require.NoError(t, err)
	for _, e := range crit {
		require.GreaterOrEqual(t, e.Priority, 9)
	}
	require.NotEmpty(t, crit)
	require.Less(t, len(crit), 5)
	since, _, err := f.arch.Read(Filter{Since: all[2].EmittedAt})
	require.NoError(t, err)
	require.Len(t, since, 3)
	until, _, err := f.arch.Read(Filter{Until: all[2].EmittedAt})
	require.NoError(t, err)
	require.Len(t, until, 2)
	grep, _, err := f.arch.Read(Filter{Pattern: regexp.MustCompile(`(?i)gpu`)})
	require.NoError(t, err)
	require.NotEmpty(t, grep)
	for _, e := range grep {
		require.Regexp(t, `(?i)gpu`, e.Body+e.File)
	}
	none, _, err := f.arch.Read(Filter{Types: []string{"no_such_type"}})
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestListProcessed(t *testing.T) {
	f := newFixture(t)
	ps, err := ListProcessed(f.intents)
	require.NoError(t, err)
	require.Len(t, ps, 3)
	byBucket := map[string]Processed{}
	for _, p := range ps {
		byBucket[p.Bucket] = p
	}
	first := sortedKeys(f.fixtures)[0]
	st := byBucket["stale"]
	require.Equal(t, "stale", st.Why)
	require.Equal(t, first, st.Original)
	require.Equal(t, "trigger_phase_promotion_cluster", st.Type)
	require.Equal(t, time.Date(2026, 11, 23, 10, 15, 0, 0, time.Local), st.MovedAt)
	ov := byBucket["queue_overflow"]
	require.Equal(t, "queue_overflow", ov.Why, "a why with an underscore")
	require.Equal(t, first, ov.Original)
	dd := byBucket["deduplicated"]
	require.Equal(t, "duplicate", dd.Why)
	require.Equal(t, "1000_alert_gpu_oom_0123abcd.json", dd.Original)
	f.requireProcessedIntact(t)

	none, err := ListProcessed(t.TempDir())
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestValidate(t *testing.T) {
	state := t.TempDir()
	intents := filepath.Join(state, "intents")
	c := DefaultConfig(state)
	v := config.NewChecker(nil)
	c.Validate(v.At("emitter").At("archive"))
	c.ValidateLocation(v.At("emitter").At("archive"), intents)
	require.NoError(t, v.Err())
	c.Dir = filepath.Join(intents, "processed", "archive")
	c.Retention = 0
	c.MaxBytes = -1
	v = config.NewChecker(nil)
	c.Validate(v.At("emitter").At("archive"))
	c.ValidateLocation(v.At("emitter").At("archive"), intents)
	err := v.Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "emitter.archive.dir = "+c.Dir+": must not be inside the intents directory")
	require.Contains(t, err.Error(), "emitter.archive.retention = 0s: must be a positive duration")
	require.Contains(t, err.Error(), "emitter.archive.max_bytes = -1: must be > 0")
	c = Config{}
	c.Resolve(state)
	require.Equal(t, DefaultConfig(state).Dir, c.Dir)
	require.Equal(t, DefaultConfig(state).QuarantineDir, c.QuarantineDir)
}

func TestFindMagicAcrossChunks(t *testing.T) {
	for _, at := range []int{1, 65534, 65535, 65536, 131070, 199997} {
		b := make([]byte, 200000)
		copy(b[at:], gzipMagic)
		got, err := findMagic(bytes.NewReader(b), 1, int64(len(b)))
		require.NoError(t, err)
		require.Equal(t, int64(at), got, "magic at %d", at)
	}
	got, err := findMagic(bytes.NewReader(make([]byte, 200000)), 0, 200000)
	require.NoError(t, err)
	require.Equal(t, int64(-1), got)
}
