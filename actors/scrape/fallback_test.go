package scrape

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/logbuf"
	"github.com/kloros/kloros-observer/messages"
)

// pythonFileServer serves dir with Python's http.server, which says
// application/octet-stream for a file with no known extension: how a
// textfile export is often served.
func pythonFileServer(t *testing.T, dir string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is needed: apt-get install python3")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(py, "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, fmt.Sprint(port))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "python http.server did not come up")
	return url
}

// A body served as application/octet-stream is parsed as the text format
// (scrape.fallback_protocol: text, the default), and the log says so once;
// with fallback_protocol none it is refused as before.
func TestScrapeFallbackProtocol(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metrics"), []byte("# TYPE queue_depth gauge\nqueue_depth 42\n"), 0o644))
	url := pythonFileServer(t, dir)
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"), "the case this test is about")

	checks := []Check{{Name: "queue", Metric: "queue_depth", Mode: "gauge", Op: ">", Value: 10, EventType: "queue_deep"}}
	for _, fallback := range []string{FallbackText, FallbackNone} {
		t.Run(fallback, func(t *testing.T) {
			s := actortest.NewSystem(t)
			disp, ch := actortest.Probe(t, s)
			deps := actortest.Deps(t, nil)
			logs := &logbuf.Buffer{}
			deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
			pid := s.Root.Spawn(actor.PropsFromProducer(New(SourceConfig{Endpoint: url, Config: Config{Interval: 100 * time.Millisecond,
				Timeout: time.Second, MaxBodyBytes: 1 << 20, FallbackProtocol: fallback}, Checks: checks, Dispatcher: disp}, deps)))
			t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
			if fallback == FallbackNone {
				require.Eventually(t, func() bool { return scrapes(t, deps, "content_type") >= 2 }, 10*time.Second, 10*time.Millisecond)
				require.Contains(t, logs.String(), "scrape.fallback_protocol is none")
				return
			}
			ev := actortest.Next[*messages.Event](t, ch, 10*time.Second)
			require.Equal(t, "queue_deep", ev.Type)
			require.Eventually(t, func() bool { return scrapes(t, deps, "ok") >= 3 }, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, 1, strings.Count(logs.String(), "parsing its body as the text format"), "said once per endpoint:\n%s", logs)
			require.Contains(t, logs.String(), "content_type=application/octet-stream")
		})
	}
}
