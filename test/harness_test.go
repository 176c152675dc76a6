package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/logbuf"
)

// The whole-daemon tests run the built binaries against real peers. The
// binaries are built once per `go test` run into a temporary directory.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// binary returns the path of a freshly built cmd/<name>.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "kloros-test-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+"/", "./cmd/...")
		cmd.Dir = repoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(buildDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireTool fails (never skips) when a peer program the test needs is absent.
func requireTool(t *testing.T, path, install string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is needed by this test and is missing: install it with `%s` (make deps does)", path, install)
	}
}

func requirePythonZMQ(t *testing.T) {
	t.Helper()
	requireTool(t, "/usr/bin/python3", "apt-get install python3")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import zmq").CombinedOutput(); err != nil {
		t.Fatalf("python3-zmq is needed by this test: install it with `apt-get install python3-zmq` (%v: %s)", err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon is one run of bin/kloros-observer.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *logbuf.Buffer
	done chan struct{}
	err  error
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, logs: &logbuf.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(binary(t, "kloros-observer"), args...)
	d.cmd.Stdout = d.logs
	d.cmd.Stderr = d.logs
	require.NoError(t, d.cmd.Start())
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGCONT)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.logs.String())
		}
	})
	return d
}

func (d *daemon) signal(sig syscall.Signal) { require.NoError(d.t, d.cmd.Process.Signal(sig)) }

// kill9 kills the daemon with SIGKILL and waits for it.
func (d *daemon) kill9() {
	d.signal(syscall.SIGKILL)
	<-d.done
}

// waitExit waits for the daemon to exit and returns its exit code.
func (d *daemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("daemon did not exit within %s; logs:\n%s", timeout, d.logs.String())
	}
	if d.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errorsAs(d.err, &ee) {
		return ee.ExitCode()
	}
	d.t.Fatalf("daemon wait: %v", d.err)
	return -1
}

// waitLog waits until the daemon's log contains s.
func (d *daemon) waitLog(s string, timeout time.Duration) {
	d.t.Helper()
	require.Eventually(d.t, func() bool { return strings.Contains(d.logs.String(), s) }, timeout, 20*time.Millisecond,
		"daemon log never contained %q; logs:\n%s", s, d.logs.String())
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

// pyEvent is one JSON line printed by testdata/chempeer.py.
type pyEvent struct {
	Ev      string         `json:"ev"`
	Zooid   string         `json:"zooid"`
	T       float64        `json:"t"`
	Topic   string         `json:"topic"`
	Payload map[string]any `json:"payload"`
}

// peer is a running testdata/chempeer.py.
type peer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	evs   []pyEvent
}

func startPeer(t *testing.T, xsub, xpub string, interval time.Duration) *peer {
	t.Helper()
	requirePythonZMQ(t)
	p := &peer{t: t}
	p.cmd = exec.Command("/usr/bin/python3", filepath.Join(repoRoot(), "test", "testdata", "chempeer.py"),
		xsub, xpub, fmt.Sprint(interval.Seconds()))
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &logbuf.Buffer{}
	p.cmd.Stderr = stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev pyEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.mu.Lock()
				p.evs = append(p.evs, ev)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("peer stderr:\n%s", stderr.String())
		}
	})
	p.await("peer ready", 10*time.Second, func(e pyEvent) bool { return e.Ev == "ready" })
	return p
}

func (p *peer) send(cmd string) {
	_, err := fmt.Fprintln(p.stdin, cmd)
	require.NoError(p.t, err)
}

func (p *peer) events() []pyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pyEvent(nil), p.evs...)
}

// await waits for an event matching pred and returns the first one.
func (p *peer) await(what string, timeout time.Duration, pred func(pyEvent) bool) pyEvent {
	p.t.Helper()
	var found pyEvent
	require.Eventually(p.t, func() bool {
		for _, e := range p.events() {
			if pred(e) {
				found = e
				return true
			}
		}
		return false
	}, timeout, 10*time.Millisecond, "peer never saw: %s", what)
	return found
}

// gaps returns the CAPABILITY_GAP messages received, by zooid.
func (p *peer) gaps() map[string][]pyEvent {
	out := map[string][]pyEvent{}
	for _, e := range p.events() {
		if e.Ev == "recv" && e.Topic == "CAPABILITY_GAP" {
			facts, _ := e.Payload["facts"].(map[string]any)
			z, _ := facts["zooid"].(string)
			out[z] = append(out[z], e)
		}
	}
	return out
}

// lastSent is the time of the last heartbeat sent for zooid.
func (p *peer) lastSent(zooid string) float64 {
	var last float64
	for _, e := range p.events() {
		if e.Ev == "sent" && e.Zooid == zooid && e.T > last {
			last = e.T
		}
	}
	return last
}

// startProxy runs a plain Python XSUB/XPUB proxy (the colony's own kind),
// independent of our code, and returns the endpoints.
func startProxy(t *testing.T) (xsub, xpub string) {
	t.Helper()
	requirePythonZMQ(t)
	xsub = fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	xpub = fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	cmd := exec.Command("/usr/bin/python3", filepath.Join(repoRoot(), "test", "testdata", "chemproxy.py"), xsub, xpub)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	return xsub, xpub
}
