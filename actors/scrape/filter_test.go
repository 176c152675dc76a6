package scrape

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A body of one big family no check reads costs a fixed buffer, not a parse
// of every sample (issue 15 #4: 16 MiB of samples once cost 200–800 MB).
// Allocation over a whole scrape of 12 MiB of body stays under 16 MiB (190 MiB before),
// and a 64 MiB body is too_large after reading the limit only.
func TestScrapeMemoryBoundedByBodyNotSamples(t *testing.T) {
	line := "unrelated_metric{instance=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",n=\"1\"} 1\n"
	body := []byte(strings.Repeat(line, (12<<20)/len(line)) +
		"# TYPE kloros_phase_duration_seconds gauge\nkloros_phase_duration_seconds 9000\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", textCT)
		if r.URL.Path == "/huge" {
			for range 64 << 20 / len(line) {
				if _, err := io.WriteString(w, line); err != nil {
					return
				}
			}
			return
		}
		w.Write(body) // a []byte: a string would be copied, and counted here
	}))
	defer srv.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ch, deps := startScrape(t, srv.URL, []Check{{Name: "pd", Metric: "kloros_phase_duration_seconds", Mode: "gauge",
		Op: ">", Value: 7200, EventType: "phase_duration_high"}}, 16<<20, 5*time.Second)
	select {
	case <-ch: // the check fired: the wanted family was kept and parsed
	case <-time.After(20 * time.Second):
		t.Fatalf("no event; scrapes ok=%v parse=%v", scrapes(t, deps, "ok"), scrapes(t, deps, "parse"))
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %.1f MiB over scrapes of a %.1f MiB body", float64(alloc)/(1<<20), float64(len(body))/(1<<20))
	require.Less(t, alloc, uint64(16<<20)*uint64(max(1, scrapes(t, deps, "ok"))), "allocation per scrape bounded by a constant, not by the samples")

	_, deps = startScrape(t, srv.URL+"/huge", nil, 16<<20, 5*time.Second)
	require.Eventually(t, func() bool { return scrapes(t, deps, "too_large") >= 1 }, 20*time.Second, 10*time.Millisecond)
}

func TestLineFilterKeepsWantedFamiliesAndRejectsGarbage(t *testing.T) {
	in := "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\nother 1\n# comment\nb_sum 2\nb_count 1\n"
	out, err := io.ReadAll(newLineFilter(strings.NewReader(in), wantedNames([]Check{{Metric: "a_total"}, {Ratio: "b_count"}})))
	require.NoError(t, err)
	require.Equal(t, "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\nb_sum 2\nb_count 1\n", string(out))
	for _, bad := range []string{"this is { not an exposition\n", "\x00\x01garbage\n", "x{a=\"1\" 1\n", strings.Repeat("y", maxLineBytes+10)} {
		_, err := io.ReadAll(newLineFilter(strings.NewReader("ok 1\n"+bad), map[string]bool{}))
		require.Error(t, err, "%q", bad[:min(len(bad), 20)])
	}
}
