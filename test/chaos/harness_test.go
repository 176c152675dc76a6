package chaos

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/logbuf"
)

// The chaos suite is black-box: it builds the binaries (with the chaos build
// tag, which adds only the failure-on-demand hook) into a temporary
// directory, starts them against real peers and injects faults from outside.
//
// `go test ./test/chaos/` (and so `make test`) runs the short form; `make
// chaos` passes -chaos.full, which raises every count (≥ 1,000 kill -9s).

var (
	full      = flag.Bool("chaos.full", false, "run the full campaign (make chaos): ≥ 1,000 kill -9s, bigger floods")
	killsFlag = flag.Int("chaos.kills", 0, "kill -9s in TestChaosKill9UnderLoad (0: 50, or 1000 with -chaos.full)")
)

func kills() int {
	switch {
	case *killsFlag > 0:
		return *killsFlag
	case *full:
		return 1000
	}
	return 50
}

// scale picks the short or the full figure.
func scale(short, long int) int {
	if *full {
		return long
	}
	return short
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// binary returns the path of cmd/<name>, built with -tags chaos.
func binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "kloros-chaos-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "chaos", "-o", buildDir+"/", "./cmd/...")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -tags chaos ./cmd/...: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(buildDir, name)
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// requireTool fails (never skips) when a peer the experiment needs is absent.
func requireTool(t testing.TB, path, install string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is needed by this experiment and is missing: install it with `%s` (make deps does)", path, install)
	}
}

func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this experiment needs root (%s): run the chaos suite as root, e.g. `sudo make chaos`", why)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon is one run of kloros-observer.
type daemon struct {
	t    testing.TB
	cmd  *exec.Cmd
	http string // host:port of /metrics, /readyz ("" when HTTP is off)
	logs *logbuf.Buffer
	done chan struct{}
	err  error
	hwm  int64 // VmHWM in kB, sampled while it ran (peak of samples)
}

func startDaemon(t testing.TB, httpAddr string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, http: httpAddr, logs: &logbuf.Buffer{}, done: make(chan struct{})}
	if httpAddr != "" {
		args = append(args, "--http-listen", httpAddr)
	} else {
		args = append(args, "--http-enabled=false")
	}
	d.cmd = exec.Command(binary(t, "kloros-observer"), args...)
	d.cmd.Stdout = d.logs
	d.cmd.Stderr = d.logs
	require.NoError(t, d.cmd.Start())
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if d.alive() {
			_ = d.cmd.Process.Signal(syscall.SIGCONT)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon %d logs (last 20k):\n%s", d.cmd.Process.Pid, tail(d.logs.String(), 20000))
		}
	})
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

func (d *daemon) signal(sig syscall.Signal) { require.NoError(d.t, d.cmd.Process.Signal(sig)) }

// kill9 kills with SIGKILL and waits; VmHWM is sampled first.
func (d *daemon) kill9() {
	d.sampleHWM()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop sends SIGTERM and requires a clean exit (status 0) within timeout.
func (d *daemon) stop(timeout time.Duration) {
	d.t.Helper()
	d.sampleHWM()
	d.signal(syscall.SIGTERM)
	require.Equal(d.t, 0, d.waitExit(timeout), "exit status after SIGTERM")
}

func (d *daemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("daemon did not exit within %s", timeout)
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(d.t, d.err)
	return 0
}

func (d *daemon) waitLog(s string, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(d.logs.String(), s) {
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon log never contained %q within %s", s, timeout)
		}
		if !d.alive() {
			d.t.Fatalf("daemon exited (%v) before logging %q", d.err, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status reads one field (kB) of /proc/PID/status.
func procStatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// sampleHWM records the process's VmHWM (peak RSS) so far.
func (d *daemon) sampleHWM() int64 {
	if d.alive() {
		if v := procStatusKB(d.pid(), "VmHWM"); v > d.hwm {
			d.hwm = v
		}
	}
	return d.hwm
}

// requireMemoryUnder requires the daemon's peak RSS (VmHWM) to stay under mb.
func (d *daemon) requireMemoryUnder(mb int64) {
	d.t.Helper()
	hwm := d.sampleHWM()
	d.t.Logf("VmHWM %.1f MB (bound %d MB)", float64(hwm)/1024, mb)
	require.Less(d.t, hwm, mb*1024, "peak RSS (VmHWM) %d kB over the bound of %d MB", hwm, mb)
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// metrics scrapes /metrics into "name{labels}" → value.
func (d *daemon) metrics() map[string]float64 {
	d.t.Helper()
	resp, err := httpClient.Get("http://" + d.http + "/metrics")
	require.NoError(d.t, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// metric is one value from /metrics (0 when absent).
func (d *daemon) metric(key string) float64 { return d.metrics()[key] }

// sum adds every series of name whose labels contain all of the given "k=\"v\"" pairs.
func sum(m map[string]float64, name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(k, l) {
				ok = false
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// readyz returns /readyz's status code and body.
func (d *daemon) readyz() (int, string) {
	resp, err := httpClient.Get("http://" + d.http + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) waitReady(timeout time.Duration) {
	d.t.Helper()
	var code int
	var body string
	waitFor(d.t, timeout, func() string { return fmt.Sprintf("/readyz 200 (last %d %q)", code, body) }, func() bool {
		if !d.alive() {
			d.t.Fatalf("daemon exited (%v) before it was ready:\n%s", d.err, tail(d.logs.String(), 4000))
		}
		code, body = d.readyz()
		return code == 200
	})
}

// journalWriter feeds entries to a real systemd-journal-remote, which writes
// a journal file into dir.
type journalWriter struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mono  int
}

const journalRemote = "/lib/systemd/systemd-journal-remote"

func startJournalWriter(t testing.TB, file string) *journalWriter {
	t.Helper()
	requireTool(t, journalRemote, "apt-get install systemd-journal-remote")
	w := &journalWriter{t: t}
	w.cmd = exec.Command(journalRemote, "-o", file, "-")
	var err error
	w.stdin, err = w.cmd.StdinPipe()
	require.NoError(t, err)
	w.cmd.Stderr = io.Discard
	require.NoError(t, w.cmd.Start())
	t.Cleanup(w.close)
	return w
}

func (w *journalWriter) close() {
	if w.stdin != nil {
		w.stdin.Close()
		_ = w.cmd.Wait()
		w.stdin = nil
	}
}

// write appends entries for unit with the given PRIORITY and messages.
func (w *journalWriter) write(unit string, prio int, msgs ...string) {
	var sb strings.Builder
	for _, m := range msgs {
		w.mono++
		fmt.Fprintf(&sb, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=%s\nPRIORITY=%d\nMESSAGE=%s\n\n",
			time.Now().UnixMicro(), w.mono, unit, prio, m)
	}
	_, err := io.WriteString(w.stdin, sb.String())
	require.NoError(w.t, err)
}

// intentFiles lists dir/*.json.
func intentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	return m
}

// verifyIntents requires every intent in dir to verify (intentctl verify:
// complete, byte-exact, sha256 right) and no .tmp to be left, and returns
// the files' contents by name.
func verifyIntents(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := intentFiles(t, dir)
	if len(files) > 0 {
		out, err := exec.Command(binary(t, "intentctl"), "verify", dir).CombinedOutput()
		require.NoError(t, err, "intentctl verify %s: corrupt or partial intent:\n%s", dir, tail(string(out), 4000))
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.Empty(t, tmps, "stale .tmp files left after a clean start")
	got := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		got[filepath.Base(f)] = string(b)
	}
	return got
}

// startChemProxy runs `chembus proxy` on fresh ports; stop kills it.
func startChemProxy(t testing.TB, xsub, xpub string) (stop func()) {
	t.Helper()
	cmd := exec.Command(binary(t, "chembus"), "proxy", "--xsub", xsub, "--xpub", xpub)
	logs := &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	var once sync.Once
	stop = func() {
		once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	t.Cleanup(stop)
	waitFor(t, 10*time.Second, func() string { return "chembus proxy bound " + xsub }, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(xsub, "tcp://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return stop
}

// runBG runs a command until the test ends (or ctx is cancelled).
func runBG(t testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// mountTmpfs mounts a tmpfs of size at dir (root only) and unmounts it at the end.
func mountTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	requireRoot(t, "mount -t tmpfs")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	require.NoError(t, err, "mount tmpfs: %s", out)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

func remount(t testing.TB, dir, opt string) {
	t.Helper()
	out, err := exec.Command("mount", "-o", "remount,"+opt, dir).CombinedOutput()
	require.NoError(t, err, "remount %s %s: %s", opt, dir, out)
}
