package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/chembus"
	"github.com/kloros/kloros-observer/messages"
)

func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "observer.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// fill writes into dir until the filesystem is full and returns the file.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler.bin")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return p
		}
	}
}

// TestChaosDiskFullAndReadOnly puts the intents directory on a 4 MiB tmpfs,
// fills it, then remounts it read-only, while critical journal lines keep
// asking for intents. Asserts: write failures are counted by reason; /readyz
// says not ready (with the reason) while an intent written now would not
// land and ready again once the queue drained; emitter.max_queued is a bound
// (intents_queued never above it, the rest refused and counted); once the
// filesystem heals every accepted intent lands, verified, once.
func TestChaosDiskFullAndReadOnly(t *testing.T) {
	base := t.TempDir()
	state, jdir := filepath.Join(base, "state"), filepath.Join(base, "journal")
	intents := filepath.Join(state, "intents")
	// 4 MiB: room for the 560 intents of the run (a tmpfs gives each file
	// at least a 4 KiB page; 2 MiB held 512 and the test then hung on a
	// genuinely full disk after the read-only phase). The filler fills it.
	mountTmpfs(t, intents, "4m")
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	jw := startJournalWriter(t, filepath.Join(jdir, "remote.journal"))
	cfg := writeConfig(t, base, "emitter:\n  max_queued: 100\n  retry_initial: 50ms\n  retry_max: 200ms\n")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--config", cfg, "--state-dir", state, "--journal-dir", jdir, "--journal-unit", "kloros.service",
		"--journal-kernel=false", "--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--log-level", "warn")
	d.waitReady(30 * time.Second)

	line := 0
	writeLines := func(n int) {
		msgs := make([]string, n)
		for i := range msgs {
			msgs[i] = fmt.Sprintf("fatal: chaos line-%07d", line)
			line++
		}
		jw.write("kloros.service", 3, msgs...)
	}
	// Disk full.
	filler := fill(t, intents)
	writeLines(60)
	waitFor(t, 20*time.Second, func() string { return "disk_full write failures counted" }, func() bool {
		return d.metric(`kloros_observer_intent_write_failures_total{reason="disk_full"}`) > 0
	})
	waitFor(t, 10*time.Second, func() string {
		c, b := d.readyz()
		return fmt.Sprintf("/readyz not ready on a full disk (%d %q)", c, b)
	},
		func() bool { c, b := d.readyz(); return c == 503 && strings.Contains(b, "disk_full") })
	require.NoError(t, os.Remove(filler))
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("60 intents after the disk freed (have %d)", len(intentFiles(t, intents)))
	},
		func() bool { return len(intentFiles(t, intents)) == 60 })
	d.waitReady(10 * time.Second)
	require.Zero(t, d.metric("kloros_observer_intents_queued"))

	// Read-only. The journald source reads at most 8 batches ahead of what
	// is durable (the journal is the better buffer), so of the 500 lines at
	// most max_queued (100) wait in memory, any excess that reached the
	// emitter is refused and counted, and the rest wait in the journal
	// until the directory heals.
	remount(t, intents, "ro")
	writeLines(500)
	maxQueued := 0.0
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("intents waiting on the read-only directory (queued %v, refused %v)", d.metric("kloros_observer_intents_queued"),
			d.metric(`kloros_observer_intents_lost_total{reason="queue_full"}`))
	}, func() bool {
		m := d.metrics()
		q := m["kloros_observer_intents_queued"]
		maxQueued = max(maxQueued, q)
		// How many reach the emitter depends on how the journal reader
		// batched the lines (it stops 8 batches ahead): the bound may or
		// may not be reached; it is never passed.
		return q > 0 && m[`kloros_observer_intent_write_failures_total{reason="read_only"}`] > 0
	})
	m := d.metrics()
	require.Greater(t, m[`kloros_observer_intent_write_failures_total{reason="read_only"}`], 0.0)
	c, b := d.readyz()
	require.Equal(t, 503, c, "not ready while read-only: %s", b)
	require.Contains(t, b, "read_only")
	remount(t, intents, "rw")
	refused := func() float64 { return d.metric(`kloros_observer_intents_lost_total{reason="queue_full"}`) }
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("560 intents landed or refused after rw (landed %d, refused %v)", len(intentFiles(t, intents)), refused())
	}, func() bool {
		m := d.metrics()
		maxQueued = max(maxQueued, m["kloros_observer_intents_queued"])
		return float64(len(intentFiles(t, intents)))+m[`kloros_observer_intents_lost_total{reason="queue_full"}`] == 560
	})
	d.waitReady(10 * time.Second)
	m = d.metrics()
	require.LessOrEqual(t, maxQueued, 100.0, "intents_queued above emitter.max_queued")
	require.Zero(t, m["kloros_observer_intents_queued"])
	d.requireMemoryUnder(memBoundMB)
	d.stop(20 * time.Second)
	files := verifyIntents(t, intents)
	require.Equal(t, 560-int(m[`kloros_observer_intents_lost_total{reason="queue_full"}`]), len(files), "every accepted intent landed once")
	t.Logf("RESULT disk: disk_full failures=%v read_only failures=%v max_queued_seen=%v refused=%v landed=%d",
		m[`kloros_observer_intent_write_failures_total{reason="disk_full"}`], m[`kloros_observer_intent_write_failures_total{reason="read_only"}`],
		maxQueued, m[`kloros_observer_intents_lost_total{reason="queue_full"}`], len(files))
}

// spooledJournal counts the spooled journal events by message.
func spooledJournal(t *testing.T, state string) map[string]int {
	out := map[string]int{}
	for _, f := range spoolGlob(state) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := bytes.Index(b, []byte("chaos line-")); i >= 0 {
			out[string(b[i:i+len("chaos line-0000000")])]++
		}
	}
	return out
}

// TestChaosJournalDirRecreated deletes the --journal-dir while the daemon
// reads it and creates it again with a new journal file: the new entries are
// read, and every entry, old and new, is spooled exactly once.
func TestChaosJournalDirRecreated(t *testing.T) {
	base := t.TempDir()
	state, jdir := filepath.Join(base, "state"), filepath.Join(base, "journal")
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	jw := startJournalWriter(t, filepath.Join(jdir, "a.journal"))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--state-dir", state, "--spool-events", "--journal-dir", jdir, "--journal-unit", "kloros.service",
		"--journal-kernel=false", "--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--log-level", "info")
	d.waitReady(30 * time.Second)
	line := 0
	write := func(w *journalWriter, n int) {
		for range n {
			w.write("kloros.service", 3, fmt.Sprintf("fatal: chaos line-%07d", line))
			line++
		}
	}
	write(jw, 200)
	waitFor(t, 20*time.Second, func() string { return "200 spooled" }, func() bool { return len(spooledJournal(t, state)) == 200 })
	rounds := scale(3, 10)
	for r := range rounds {
		jw.close()
		require.NoError(t, os.RemoveAll(jdir))
		require.NoError(t, os.MkdirAll(jdir, 0o755))
		jw = startJournalWriter(t, filepath.Join(jdir, fmt.Sprintf("r%d.journal", r)))
		write(jw, 200)
		want := line
		waitFor(t, 30*time.Second, func() string {
			return fmt.Sprintf("round %d: %d entries spooled after the directory was re-created (have %d, entries read %v)",
				r, want, len(spooledJournal(t, state)), sum(d.metrics(), "kloros_observer_journal_entries_read_total"))
		}, func() bool { return len(spooledJournal(t, state)) == want })
	}
	got := spooledJournal(t, state)
	for k, c := range got {
		require.Equal(t, 1, c, "%s spooled %d times", k, c)
	}
	require.True(t, d.alive())
	d.requireMemoryUnder(memBoundMB)
	d.stop(20 * time.Second)
	t.Logf("RESULT journal-dir: %d re-creations, %d entries each spooled once", rounds, line)
}

// TestChaosInotifyOverflow stops the daemon (SIGSTOP) while more files are
// created in a watched promotions directory than inotify queues
// (fs.inotify.max_queued_events, 16384 by default); after SIGCONT the
// overflow is counted and every file is reported exactly once.
func TestChaosInotifyOverflow(t *testing.T) {
	base := t.TempDir()
	prom := filepath.Join(base, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--state-dir", filepath.Join(base, "state"), "--watch", prom, "--journald-enabled=false",
		"--scrape-enabled=false", "--chembus-enabled=false", "--log-level", "warn")
	d.waitReady(30 * time.Second)
	n := scale(20000, 50000)
	d.signal(syscall.SIGSTOP)
	for i := range n {
		require.NoError(t, os.WriteFile(filepath.Join(prom, fmt.Sprintf("f%06d.json", i)), nil, 0o644))
	}
	d.signal(syscall.SIGCONT)
	key := `kloros_observer_events_total{source="inotify",type="promotion_new"}`
	waitFor(t, 60*time.Second, func() string { return fmt.Sprintf("%d promotion_new events (have %v)", n, d.metric(key)) },
		func() bool { return d.metric(key) >= float64(n) })
	require.GreaterOrEqual(t, d.metric(`kloros_observer_fswatch_errors_total{kind="overflow"}`), 1.0, "overflow counted")
	// Exactly once: a few more files, and the count is n + those.
	for i := range 3 {
		require.NoError(t, os.WriteFile(filepath.Join(prom, fmt.Sprintf("g%d.json", i)), nil, 0o644))
	}
	waitFor(t, 10*time.Second, func() string { return "3 more" }, func() bool { return d.metric(key) >= float64(n+3) })
	require.Equal(t, float64(n+3), d.metric(key), "every file reported exactly once")
	d.requireMemoryUnder(memBoundMB)
	d.stop(20 * time.Second)
	t.Logf("RESULT inotify: %d files created while stopped, each reported once", n)
}

// TestChaosHostileScrapes points the scrape sources at endpoints that stream
// 1 GiB of text, trickle bytes, return garbage, or send a gzip bomb. Each is
// counted by reason, the daemon stays up and ready, and its peak RSS stays
// within the body limit (16 MiB) plus a constant.
func TestChaosHostileScrapes(t *testing.T) {
	line := []byte("hostile_metric{instance=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",n=\"0000000\"} 1\n")
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		for sent := 0; sent < 1<<30; sent += len(line) {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "slow_%d 1\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	defer slow.Close()
	garbage := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(garbage)
	}))
	defer junk.Close()
	var bomb bytes.Buffer // 1 GiB of metric lines, gzipped to a few MB
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	chunk := bytes.Repeat([]byte("bomb_metric 1\n"), 1<<16)
	for sent := 0; sent < scale(256, 1024)<<20; sent += len(chunk) {
		zw.Write(chunk)
	}
	zw.Close()
	gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb.Bytes())
	}))
	defer gz.Close()

	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--state-dir", t.TempDir(), "--journald-enabled=false", "--fswatch-enabled=false",
		"--chembus-enabled=false", "--metrics-interval", "2s", "--log-level", "warn",
		"--metrics-endpoint", huge.URL, "--metrics-endpoint", slow.URL, "--metrics-endpoint", junk.URL, "--metrics-endpoint", gz.URL)
	d.waitReady(30 * time.Second)
	rounds := float64(scale(4, 15))
	waitFor(t, time.Duration(rounds*5)*time.Second+30*time.Second, func() string { return fmt.Sprintf("%v scrapes of each endpoint", rounds) }, func() bool {
		m := d.metrics()
		for i := range 4 {
			if sum(m, "kloros_observer_scrapes_total", fmt.Sprintf(`endpoint="%d"`, i)) < rounds {
				return false
			}
		}
		return true
	})
	m := d.metrics()
	for i, want := range []string{"too_large", "timeout", "parse", "too_large"} {
		got := m[fmt.Sprintf(`kloros_observer_scrapes_total{endpoint="%d",result="%s"}`, i, want)]
		require.GreaterOrEqual(t, got, rounds-1, "endpoint %d counted as %s", i, want)
		require.Zero(t, m[fmt.Sprintf(`kloros_observer_scrapes_total{endpoint="%d",result="ok"}`, i)])
	}
	c, b := d.readyz()
	require.Equal(t, 200, c, b)
	// Bound: the body limit (16 MiB) plus a constant for the runtime.
	d.requireMemoryUnder(16 + 60)
	d.stop(20 * time.Second)
}

// TestChaosChemBus: a SIGSTOP longer than the heartbeat threshold publishes
// no gap for live zooids; a flood of malformed messages of every kind is
// dropped and counted by reason; a flood of new names stops at
// heartbeat.max_zooids (refused and counted) without a log line per name; the
// proxy restarted repeatedly is reconnected to each time.
func TestChaosChemBus(t *testing.T) {
	base := t.TempDir()
	xsub := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	xpub := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	stopProxy := startChemProxy(t, xsub, xpub)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runBG(t, ctx, binary(t, "chembus"), "load", "--xsub", xsub, "--zooids", "20", "--interval", "500ms", "--duration", "24h", "--prefix", "live_")
	cfg := writeConfig(t, base, "heartbeat:\n  max_zooids: 5000\n  peer_interval: 500ms\n")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--config", cfg, "--state-dir", filepath.Join(base, "state"), "--journald-enabled=false",
		"--fswatch-enabled=false", "--scrape-enabled=false", "--chem-xsub", xsub, "--chem-xpub", xpub, "--chembus-proxy", "external",
		"--heartbeat-threshold", "3s", "--log-level", "info")
	d.waitReady(30 * time.Second)
	alive := func() float64 { return d.metric(`kloros_observer_zooids{state="alive"}`) }
	waitFor(t, 20*time.Second, func() string { return fmt.Sprintf("20 live zooids (have %v)", alive()) }, func() bool { return alive() >= 20 })

	// SIGSTOP for three thresholds: no gap for zooids that kept beating.
	d.signal(syscall.SIGSTOP)
	time.Sleep(9 * time.Second) // the fault itself: the daemon is stopped this long
	d.signal(syscall.SIGCONT)
	waitFor(t, 10*time.Second, func() string { return "stall detected" }, func() bool {
		return d.metric("kloros_observer_self_stalls_detected_total") >= 1
	})
	require.Zero(t, d.metric("kloros_observer_capability_gaps_published_total"), "no gap storm after our own stall")

	// Malformed flood.
	p, err := chembus.NewPublisher(xsub, time.Second)
	require.NoError(t, err)
	defer p.Close()
	deep := `{"signal":"HEARTBEAT","facts":{"zooid":"deep","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`
	kinds := map[string]string{
		"invalid_json":     `{"signal":"HEARTBEAT",`,
		"not_object":       `[1,2,3]`,
		"topic_mismatch":   `{"signal":"OTHER","facts":{"zooid":"z"}}`,
		"facts_not_object": `{"signal":"HEARTBEAT","facts":7}`,
		"bad_zooid":        `{"signal":"HEARTBEAT","facts":{"zooid":""}}`,
		"bad_number":       `{"signal":"HEARTBEAT","facts":{"zooid":"n","uptime_s":"x"}}`,
		"invalid_utf8":     "{\"signal\":\"HEARTBEAT\",\"facts\":{\"zooid\":\"\xff\"}}",
		"oversize":         `{"signal":"HEARTBEAT","facts":{"zooid":"big","pad":"` + strings.Repeat("x", 70000) + `"}}`,
		"too_deep":         deep,
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	flood := scale(20000, 100000)
	waitFor(t, 10*time.Second, func() string { return "publisher connected" }, func() bool {
		p.Send("HEARTBEAT", []byte(kinds["invalid_json"]))
		time.Sleep(50 * time.Millisecond)
		return d.metric(`kloros_observer_chembus_messages_dropped_total{reason="invalid_json"}`) > 0
	})
	for i := range flood {
		k := names[i%len(names)]
		p.Send("HEARTBEAT", []byte(kinds[k]))
		if i%1000 == 0 {
			time.Sleep(5 * time.Millisecond) // let the proxy keep up (its HWM drops the rest, which is fine but uncounted)
		}
	}
	missing := func() []string {
		m := d.metrics()
		var out []string
		for _, k := range names {
			if m[fmt.Sprintf(`kloros_observer_chembus_messages_dropped_total{reason="%s"}`, k)] < 1 {
				out = append(out, k)
			}
		}
		return out
	}
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("every malformed kind dropped and counted; not counted: %v", missing())
	}, func() bool {
		m := d.metrics()
		for _, k := range names {
			if m[fmt.Sprintf(`kloros_observer_chembus_messages_dropped_total{reason="%s"}`, k)] < 1 {
				return false
			}
		}
		return true
	})
	require.True(t, d.alive())

	// Name flood past max_zooids.
	names2 := scale(20000, 200000)
	for i := range names2 {
		b, _ := chembus.EncodeSignal(testHeartbeat(fmt.Sprintf("flood_%07d", i)))
		p.Send("HEARTBEAT", b)
		if i%1000 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(t, 60*time.Second, func() string {
		return fmt.Sprintf("name flood refused past max_zooids (refused %v)", d.metric("kloros_observer_zooids_refused_total"))
	}, func() bool { return d.metric("kloros_observer_zooids_refused_total") > 0 })
	m := d.metrics()
	require.LessOrEqual(t, sum(m, "kloros_observer_zooids"), 5000.0, "the zooid bound holds")
	firstSeen := strings.Count(d.logs.String(), "zooid first seen")
	require.Less(t, firstSeen, 200, "a log line per new name: %d", firstSeen)

	// Proxy restarts: each time the daemon reconnects and heartbeats flow again.
	restarts := scale(3, 20)
	for r := range restarts {
		stopProxy()
		before := d.metric(`kloros_observer_chembus_messages_received_total{topic="HEARTBEAT"}`)
		stopProxy = startChemProxy(t, xsub, xpub)
		waitFor(t, 30*time.Second, func() string { return fmt.Sprintf("restart %d: heartbeats flow again", r) }, func() bool {
			return d.metric(`kloros_observer_chembus_messages_received_total{topic="HEARTBEAT"}`) > before+20
		})
	}
	require.True(t, d.alive())
	c, b := d.readyz()
	require.Equal(t, 200, c, b)
	d.requireMemoryUnder(memBoundMB)
	d.stop(20 * time.Second)
	t.Logf("RESULT chembus: malformed=%d names=%d refused=%v first_seen_lines=%d proxy_restarts=%d",
		flood, names2, m["kloros_observer_zooids_refused_total"], firstSeen, restarts)
}

// TestChaosCheckConfigDevZero: --check-config on a device or a huge file ends
// at once with a clear error and exit status 2.
func TestChaosCheckConfigDevZero(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte("# comment\n"), 2<<20), 0o600))
	for file, want := range map[string]string{"/dev/zero": "not a regular file", big: "larger than"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, binary(t, "kloros-observer"), "--check-config", file)
		out, err := cmd.CombinedOutput()
		require.NoError(t, ctx.Err(), "--check-config %s did not end", file)
		cancel()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		require.Equal(t, 2, ee.ExitCode(), "%s", out)
		require.Contains(t, string(out), want)
	}
}

func testHeartbeat(zooid string) *messages.Signal {
	return &messages.Signal{Signal: "HEARTBEAT", Ecosystem: "colony", Intensity: 1,
		Facts: map[string]any{"zooid": zooid, "niche": "flood", "uptime_s": 1.0, "processed_count": 1},
		TS:    float64(time.Now().UnixNano()) / 1e9, SchemaVersion: 1}
}

// TestChaosJournalBacklog starts the daemon on a journal that already holds
// more critical lines than a mailbox holds (after an outage, or a restart
// loop): every line gets its intent, none is dropped at a bounded mailbox
// while the cursor checkpoint passes it.
func TestChaosJournalBacklog(t *testing.T) {
	base := t.TempDir()
	state, jdir := filepath.Join(base, "state"), filepath.Join(base, "journal")
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	jw := startJournalWriter(t, filepath.Join(jdir, "r.journal"))
	n := scale(20000, 50000)
	for i := 0; i < n; i += 1000 {
		msgs := make([]string, 1000)
		for k := range msgs {
			msgs[k] = fmt.Sprintf("fatal: chaos line-%07d", i+k)
		}
		jw.write("kloros.service", 3, msgs...)
	}
	jw.close()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, httpAddr, "--state-dir", state, "--journal-dir", jdir, "--journal-unit", "kloros.service",
		"--journal-kernel=false", "--fswatch-enabled=false", "--scrape-enabled=false", "--chembus-enabled=false", "--log-level", "warn")
	d.waitReady(30 * time.Second)
	intents := filepath.Join(state, "intents")
	key := `kloros_observer_intents_written_total{type="curiosity_investigate"}`
	waitFor(t, 2*time.Minute, func() string {
		m := d.metrics()
		return fmt.Sprintf("%d intents (written %v, entries read %v, dropped at mailboxes %v)", n, m[key],
			sum(m, "kloros_observer_journal_entries_read_total"), sum(m, "kloros_observer_mailbox_dropped_messages_total"))
	}, func() bool {
		m := d.metrics()
		read, dropped := sum(m, "kloros_observer_journal_entries_read_total"), sum(m, "kloros_observer_mailbox_dropped_messages_total")
		return m[key] >= float64(n) || (read >= float64(n) && dropped > 0) // done, or failed for good
	})
	m := d.metrics()
	require.Zero(t, sum(m, "kloros_observer_mailbox_dropped_messages_total"), "nothing dropped at a bounded mailbox")
	require.Equal(t, float64(n), m[key])
	d.requireMemoryUnder(memBoundMB)
	d.stop(30 * time.Second)
	require.Len(t, verifyIntents(t, intents), n)
	t.Logf("RESULT backlog: %d critical lines waiting at start, %d intents, 0 dropped", n, n)
}
