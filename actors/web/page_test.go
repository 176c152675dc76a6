package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The page with 10,000 zooids in a real headless Chromium: the first page of
// tiles (problems first) draws within a few seconds, the pager says how many
// there are, and a search narrows the grid to one zooid at once.
func TestPageTenThousandZooids(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is needed by this test: apt-get install chromium", chromium)
	}
	zs := make([]Zooid, 10000)
	for i := range zs {
		zs[i] = Zooid{Name: fmt.Sprintf("zooid-%05d", i), Niche: fmt.Sprintf("niche-%02d", i%25), State: StateAlive, LastSeen: now0, Threshold: 30 * time.Second}
		if i%1000 == 7 {
			zs[i].State, zs[i].Incident = StateSilent, fmt.Sprintf("hbgap-%d", i)
		}
	}
	f := newFixture(t, nil, zs...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	eval := func(js string) bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		require.NoError(t, err, js)
		return v
	}
	waitJS := func(what, js string, d time.Duration) time.Duration {
		start := time.Now()
		for !eval(js) {
			if time.Since(start) > d {
				t.Fatalf("page never showed %s within %s", what, d)
			}
			time.Sleep(20 * time.Millisecond) // polling the browser
		}
		return time.Since(start)
	}
	start := time.Now()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.ts.URL+"/")))
	waitJS("the first 3,000 tiles", `document.querySelectorAll('.tile').length === 3000`, 20*time.Second)
	drawn := time.Since(start)
	t.Logf("10,000 zooids: first page of tiles drawn %s after navigation", drawn)
	require.Less(t, drawn, 10*time.Second)
	require.True(t, eval(`document.getElementById('pager').textContent.includes('10000 zooids')`))
	require.True(t, eval(`document.querySelectorAll('.tile[data-state="silent"]').length === 10`), "the silent ones come first")
	require.True(t, eval(`document.getElementById('banner').textContent.includes('10 zooids silent')`))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#search"), "zooid-04242")))
	took := waitJS("one tile after a search", `document.querySelectorAll('.tile').length === 1`, 5*time.Second)
	t.Logf("search narrowed 10,000 tiles to one in %s", took)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "kloros-page-10k-")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "search.png"), png, 0o644))
	t.Logf("screenshot: %s", dir)
}
