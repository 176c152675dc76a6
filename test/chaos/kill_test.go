package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// memBoundMB is the peak RSS (VmHWM) every daemon in the suite must stay
// under: a third of the unit's MemoryMax=512M.
const memBoundMB = 170

var lineRE = regexp.MustCompile(`chaos line-(\d{7})`)

// TestChaosKill9UnderLoad kills the daemon with SIGKILL at random instants —
// during start-up, mid-batch, mid-checkpoint — while it is under mixed load:
// critical journal lines at ~100/s (each one its own curiosity_investigate
// intent), a promotion file every 0.3 s, 1,000 zooids beating on a real
// ChemBus proxy. Then it starts the daemon once more and lets it catch up.
//
// Asserts: every intent file verifies (no corrupt or partial .json, no .tmp
// left); every journal line has exactly one intent (none lost, none
// duplicated) and is spooled exactly once; no two intents share a dedup hash;
// every run stayed under the memory bound; the last run is ready and exits 0
// on SIGTERM; the counters agree with the files.
func TestChaosKill9UnderLoad(t *testing.T) {
	n := kills()
	base := tempDir(t)
	state, jdir := filepath.Join(base, "state"), filepath.Join(base, "journal")
	prom := filepath.Join(base, "out", "promotions")
	require.NoError(t, os.MkdirAll(prom, 0o755))
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	xsub := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	xpub := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	startChemProxy(t, xsub, xpub)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runBG(t, ctx, binary(t, "chembus"), "load", "--xsub", xsub, "--zooids", "1000", "--interval", "10s", "--duration", "24h")

	jw := startJournalWriter(t, filepath.Join(jdir, "remote.journal"))
	var mu sync.Mutex
	written := 0
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // journal: 5 critical lines every 50 ms, and some noise
		defer wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			mu.Lock()
			msgs := make([]string, 5)
			for i := range msgs {
				msgs[i] = fmt.Sprintf("fatal: chaos line-%07d", written)
				written++
			}
			jw.write("kloros.service", 3, msgs...)
			jw.write("kloros.service", 6, "all quiet")
			mu.Unlock()
		}
	}()
	go func() { // promotions: one file every 0.3 s
		defer wg.Done()
		tk := time.NewTicker(300 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			_ = os.WriteFile(filepath.Join(prom, fmt.Sprintf("p%06d.json", i)), []byte(`{"ok":true}`), 0o644)
		}
	}()

	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"--state-dir", state, "--spool-events", "--journal-dir", jdir, "--journal-unit", "kloros.service",
		"--journal-kernel=false", "--watch", prom, "--scrape-enabled=false", "--chem-xsub", xsub, "--chem-xpub", xpub,
		"--chembus-proxy", "external", "--log-level", "warn"}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	start := time.Now()
	var peak int64
	runCounters := map[string]float64{}
	defer func() { t.Logf("counters of the killed runs (sampled before each kill, when up): %v", runCounters) }()
	for i := range n {
		d := startDaemon(t, httpAddr, args...)
		// Random instants: a third during start-up, the rest up to 0.8 s in.
		if i%3 != 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(800 * time.Millisecond))))
		} else {
			time.Sleep(time.Duration(rng.Int64N(int64(60 * time.Millisecond))))
		}
		require.True(t, d.alive(), "daemon died on its own before kill %d: %v\n%s", i, d.err, tail(d.logs.String(), 4000))
		// What this run's counters said just before it died (when it was
		// up far enough to answer): kept, to tell a loss's cause.
		if m := quickMetrics(httpAddr); m != nil {
			for _, k := range []string{"kloros_observer_intents_deduplicated_total", "kloros_observer_mailbox_dropped_messages_total",
				"kloros_observer_intents_lost_total", "kloros_observer_intent_write_failures_total", "kloros_observer_actor_failures_total"} {
				runCounters[k] += sum(m, k)
			}
		}
		d.kill9()
		peak = max(peak, d.hwm)
		require.Less(t, d.hwm, int64(memBoundMB*1024), "run %d: VmHWM %d kB over %d MB", i, d.hwm, memBoundMB)
	}
	killTime := time.Since(start)
	cancel()
	wg.Wait()
	mu.Lock()
	total := written
	mu.Unlock()
	jw.close()
	t.Logf("%d kill -9s in %s; %d critical journal lines written; peak VmHWM over the killed runs %.1f MB",
		n, killTime.Round(time.Second), total, float64(peak)/1024)

	d := startDaemon(t, httpAddr, args...)
	d.waitReady(60 * time.Second)
	dir := filepath.Join(state, "intents")
	perLine := func() map[int]int {
		out := map[int]int{}
		for _, f := range intentFiles(t, dir) {
			if !strings.Contains(f, "_curiosity_investigate_") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if m := lineRE.FindSubmatch(b); m != nil {
				k, _ := strconv.Atoi(string(m[1])) // not fmt.Sscan: it reads 0000123 as octal
				out[k]++
			}
		}
		return out
	}
	waitFor(t, 90*time.Second, func() string {
		out, _ := exec.Command("journalctl", "-D", jdir, "-o", "cat", "--no-pager").Output()
		return fmt.Sprintf("an intent for each of %d lines (have %d; journalctl -D sees %d critical lines; spool %d; metrics entries read %v)", total, len(perLine()), strings.Count(string(out), "chaos line-"), len(spoolGlob(state)), sum(d.metrics(), "kloros_observer_journal_entries_read_total"))
	},
		func() bool { return len(perLine()) >= total })
	waitFor(t, 30*time.Second, func() string { return "heartbeats received from the 1,000 zooids" }, func() bool {
		return sum(d.metrics(), "kloros_observer_chembus_messages_received_total", `topic="HEARTBEAT"`) > 0
	})
	m := d.metrics()
	d.requireMemoryUnder(memBoundMB)
	d.stop(30 * time.Second)

	files := verifyIntents(t, dir)
	got := perLine()
	dups := 0
	for k := range total {
		require.NotZero(t, got[k], "line %d has no intent: lost", k)
		if got[k] > 1 {
			dups++
			t.Errorf("line %d has %d intents: duplicated", k, got[k])
		}
	}
	byHash := map[string][]string{}
	for name := range files {
		h := strings.TrimSuffix(name[strings.LastIndexByte(name, '_')+1:], ".json")
		byHash[h] = append(byHash[h], name)
	}
	for h, names := range byHash {
		require.Len(t, names, 1, "intents with the same dedup hash %s: %v", h, names)
	}
	// Journal entries exactly once: every critical line spooled once.
	spooled := map[string]int{}
	evs, _ := filepath.Glob(filepath.Join(state, "events", "*_journald_*.json"))
	for _, f := range evs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var ev struct {
			Data struct {
				Message string `json:"message"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(b, &ev), "spooled event %s", f)
		if strings.HasPrefix(ev.Data.Message, "fatal: chaos line-") {
			spooled[ev.Data.Message]++
		}
	}
	require.Len(t, spooled, total, "every critical journal line spooled")
	for msg, c := range spooled {
		require.Equal(t, 1, c, "%q spooled %d times", msg, c)
	}
	// The last run's counters: nothing failed, nothing lost.
	require.Zero(t, sum(m, "kloros_observer_intents_lost_total"))
	require.Zero(t, sum(m, "kloros_observer_actor_failures_total"))
	t.Logf("RESULT kill9 kills=%d duration=%s lines=%d intents=%d duplicates=%d lost=0 peak_vmhwm_mb=%.1f",
		n, killTime.Round(time.Second), total, len(files), dups, float64(max(peak, d.hwm))/1024)
}

func spoolGlob(state string) []string {
	evs, _ := filepath.Glob(filepath.Join(state, "events", "*_journald_*.json"))
	return evs
}

// tempDir is t.TempDir, or a kept directory with CHAOS_KEEP=1 (to look at after a failure).
func tempDir(t *testing.T) string {
	if os.Getenv("CHAOS_KEEP") == "" {
		return t.TempDir()
	}
	d, err := os.MkdirTemp("", "chaos-"+t.Name()+"-")
	require.NoError(t, err)
	t.Logf("keeping %s", d)
	return d
}

// quickMetrics scrapes /metrics with a short timeout; nil if it does not answer.
func quickMetrics(addr string) map[string]float64 {
	c := &http.Client{Timeout: 200 * time.Millisecond}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out
}
