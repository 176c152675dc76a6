package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser is a headless Chromium driven over the DevTools protocol, with the
// page's console errors and uncaught exceptions collected.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errs   []string
	shots  string
	shotNo int
}

// chromiumPath is Debian's chromium. A missing browser fails the test.
const chromiumPath = "/usr/bin/chromium"

func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireTool(t, chromiumPath, "apt-get install chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	var err error
	b.shots, err = os.MkdirTemp("", "kloros-dashboard-screenshots-")
	require.NoError(t, err)
	if d := os.Getenv("KLOROS_SCREENSHOTS"); d != "" { // keep them somewhere known (the README's come from here)
		b.shots = d
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	t.Logf("screenshots: %s", b.shots)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "starting chromium")
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelC()
		cancelA()
		<-done
	})
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...), "console: %v", b.consoleErrors())
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// noConsoleErrors fails the test with the page's console errors.
func (b *browser) noConsoleErrors() {
	b.t.Helper()
	require.Empty(b.t, b.consoleErrors(), "the page logged errors")
}

func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, "evaluate %s (console: %v)", js, b.consoleErrors())
	return v
}

// waitJS polls a JS predicate until it is true or the timeout passes, and
// returns how long it took.
func (b *browser) waitJS(what, js string, timeout time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		if eval[bool](b, js) {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.screenshot("timeout")
			b.t.Fatalf("page never showed %s within %s (console: %v)", what, timeout, b.consoleErrors())
		}
		time.Sleep(25 * time.Millisecond) // polling the browser, not settling
	}
}

func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shot := chromedp.FullScreenshot(100)
	if strings.Contains(name, "zooid") { // a drawer over the page: the viewport, as an operator sees it
		shot = chromedp.CaptureScreenshot()
	}
	png, err := chromedp.Run(ctx, shot)
	require.NoError(b.t, err)
	b.shotNo++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.shotNo, name))
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	return path
}

func tileState(z string) string {
	return fmt.Sprintf(`((document.querySelector('.tile[data-zooid=%q]')||{}).dataset?.state || "")`, z)
}

// TestIntegrationDashboard runs the daemon against a real proxy and Python
// peers and looks at its page in a real headless Chromium: the zooids show
// green; one that stops turns red within threshold + 2 s without a reload; a
// silence set from the CLI shows as silenced and no gap is published for it;
// a promotion file dropped in a watched directory shows in the live feed
// within 1 s.
func TestIntegrationDashboard(t *testing.T) {
	br := startBrowser(t)
	xsub, xpub := startProxy(t)
	p := startPeer(t, xsub, xpub, 500*time.Millisecond)
	state := t.TempDir()
	promos := filepath.Join(t.TempDir(), "promotions")
	require.NoError(t, os.MkdirAll(promos, 0o700))
	port := freePort(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	d := startDaemon(t, "--state-dir", state, "--log-level", "debug",
		"--chembus-proxy", "external", "--chem-xsub", xsub, "--chem-xpub", xpub, "--chem-heartbeat-interval", "1s",
		"--heartbeat-threshold", threshold.String(), "--heartbeat-peer-interval", "1s", "--fswatch-path", promos,
		"--journald-enabled=false", "--scrape-enabled=false", "--http-listen", fmt.Sprintf("127.0.0.1:%d", port))
	d.waitLog("supervision tree started", 20*time.Second)
	awaitDaemonOnBus(p, 0)

	niches := []string{"gpu", "dream", "io"}
	var zooids []string
	for i := range 12 {
		z := fmt.Sprintf("%s-worker-%02d", niches[i%3], i)
		zooids = append(zooids, z)
		p.send("start " + z + " " + niches[i%3])
	}
	br.do(chromedp.Navigate(api + "/"))
	br.waitJS("12 zooids alive + our own", `document.querySelectorAll('.tile[data-state="alive"]').length >= 13`, 20*time.Second)
	br.waitJS("live stream connected", `document.getElementById('live-text').textContent === 'live'`, 5*time.Second)
	br.screenshot("all-alive")

	// One zooid stops: red within threshold + 2 s of its last heartbeat, no reload.
	marker := eval[float64](br, `window.__loaded = performance.timeOrigin`)
	victim := zooids[4]
	p.send("stop " + victim)
	p.await("victim stopped", 5*time.Second, func(e pyEvent) bool { return e.Ev == "stopped" && e.Zooid == victim })
	last := time.Unix(0, int64(p.lastSent(victim)*1e9))
	br.waitJS(victim+" red", tileState(victim)+` === "silent"`, threshold+4*time.Second)
	red := time.Since(last)
	require.LessOrEqual(t, red, threshold+2*time.Second, "%s turned red %.2fs after its last heartbeat", victim, red.Seconds())
	require.Equal(t, marker, eval[float64](br, `window.__loaded`), "no reload")
	br.waitJS("the silent banner", `document.getElementById('banner').textContent.includes(`+fmt.Sprintf("%q", victim)+`)`, 2*time.Second)

	// A silence from the CLI: shown as silenced, and no gap when it stops.
	hushed := zooids[7]
	out, err := exec.Command(binary(t, "kloros-observer"), "silence", "add", "--zooid", hushed, "--duration", "1h",
		"--comment", "driver upgrade", "--api", api).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "active until")
	br.waitJS(hushed+" silenced", tileState(hushed)+` === "silenced"`, 8*time.Second)
	p.send("stop " + hushed)
	p.await("hushed stopped", 5*time.Second, func(e pyEvent) bool { return e.Ev == "stopped" && e.Zooid == hushed })
	hushedStop := time.Now()
	d.waitLog("zooid went silent while silenced", threshold+5*time.Second)
	var detail struct {
		State      string `json:"state"`
		IncidentID string `json:"incident_id"`
	}
	getJSON(t, api+"/api/v1/zooids/"+hushed, &detail)
	require.Equal(t, "silenced", detail.State)
	require.NotEmpty(t, detail.IncidentID, "the episode is open, only not announced")
	for time.Since(hushedStop) < threshold+2*time.Second {
		time.Sleep(100 * time.Millisecond) // watching an outside process for a gap that must not come
	}
	require.Empty(t, p.gaps()[hushed], "no CAPABILITY_GAP for a silenced zooid")
	require.Len(t, p.gaps()[victim], 1)
	require.Equal(t, "silenced", eval[string](br, tileState(hushed)))

	// A promotion file appears in the live feed within 1 s.
	require.NoError(t, os.WriteFile(filepath.Join(promos, "candidate-42.json"), []byte(`{"score": 0.93}`), 0o600))
	took := br.waitJS("promotion_new in the feed", `!!document.querySelector('#events li[data-type="promotion_new"]')`, 3*time.Second)
	require.LessOrEqual(t, took, time.Second, "the promotion reached the feed in %s", took)

	br.screenshot("dashboard")
	br.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`.tile[data-zooid=%q]`, victim))))
	br.waitJS("the zooid drawer", `!document.getElementById('drawer').classList.contains('hidden') && document.querySelector('#drawer-content .bars') !== null`, 5*time.Second)
	br.screenshot("zooid")
	br.noConsoleErrors()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}
