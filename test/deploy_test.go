package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/supervision"
)

// unitsWithBinaries copies the shipped units to a temp dir with ExecStart
// pointing at the freshly built binaries (verify checks they exist).
func unitsWithBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Dir(binary(t, "kloros-observer"))
	units, err := filepath.Glob(filepath.Join(repoRoot(), "deploy", "systemd", "*"))
	require.NoError(t, err)
	require.Len(t, units, 3)
	for _, u := range units {
		b, err := os.ReadFile(u)
		require.NoError(t, err)
		body := strings.ReplaceAll(string(b), "/usr/local/bin/", bin+"/")
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(u)), []byte(body), 0o644))
	}
	return dir
}

func TestIntegrationSystemdUnitsVerify(t *testing.T) {
	requireTool(t, "/usr/bin/systemd-analyze", "apt-get install systemd")
	dir := unitsWithBinaries(t)
	args := []string{"verify"}
	for _, u := range []string{"kloros-observer.service", "kloros-orchestrator.service", "kloros-intent.path"} {
		args = append(args, filepath.Join(dir, u))
	}
	out, err := exec.Command("systemd-analyze", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify reports nothing")
}

func TestIntegrationSystemdSecurityExposure(t *testing.T) {
	requireTool(t, "/usr/bin/systemd-analyze", "apt-get install systemd")
	dir := unitsWithBinaries(t)
	re := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, u := range []string{"kloros-observer.service", "kloros-orchestrator.service"} {
		out, _ := exec.Command("systemd-analyze", "security", "--offline=true", filepath.Join(dir, u)).CombinedOutput()
		m := re.FindSubmatch(out)
		require.NotNil(t, m, "%s", out)
		level, err := strconv.ParseFloat(string(m[1]), 64)
		require.NoError(t, err)
		require.LessOrEqual(t, level, 2.0, "%s exposure %.1f:\n%s", u, level, out)
	}
}

func TestIntegrationInstallIntoDestdir(t *testing.T) {
	binary(t, "kloros-observer") // ensure bin/ can be built
	root := t.TempDir()
	cmd := exec.Command("bash", "deploy/install.sh")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "DESTDIR="+root, "REBUILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "systemctl enable --now kloros-observer.service kloros-intent.path")
	require.Contains(t, string(out), "would run: useradd --system")
	for path, mode := range map[string]os.FileMode{
		"usr/local/bin/kloros-observer":                  0o755,
		"usr/local/bin/intentctl":                        0o755,
		"usr/local/bin/chembus":                          0o755,
		"etc/systemd/system/kloros-observer.service":     0o644,
		"etc/systemd/system/kloros-intent.path":          0o644,
		"etc/systemd/system/kloros-orchestrator.service": 0o644,
		"etc/kloros/observer.yaml":                       0o640,
		"home/kloros/.kloros":                            0o700,
		"home/kloros/.kloros/intents":                    0o700,
		// Generated at install time from the binaries' cobra commands.
		"usr/local/share/man/man1/kloros-observer.1":                     0o644,
		"usr/local/share/man/man1/intentctl.1":                           0o644,
		"usr/local/share/man/man1/intentctl-replay.1":                    0o644,
		"usr/local/share/man/man1/chembus-pub.1":                         0o644,
		"usr/local/share/bash-completion/completions/intentctl":          0o644,
		"usr/local/share/zsh/site-functions/_chembus":                    0o644,
		"usr/local/share/fish/vendor_completions.d/kloros-observer.fish": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		require.NoError(t, err, path)
		require.Equal(t, mode, fi.Mode().Perm(), path)
	}
	// Idempotent, and an edited config is kept.
	cfg := filepath.Join(root, "etc/kloros/observer.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log_level: debug\n"), 0o640))
	cmd = exec.Command("bash", "deploy/install.sh")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "DESTDIR="+root)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, _ := os.ReadFile(cfg)
	require.Equal(t, "log_level: debug\n", string(b))
}

// TestSampleConfigCoversEveryKey: the shipped sample loads, validates, and
// names every key of supervision.Config.
func TestSampleConfigCoversEveryKey(t *testing.T) {
	path := filepath.Join(repoRoot(), "deploy", "kloros", "observer.yaml")
	out, err := exec.Command(binary(t, "kloros-observer"), "--check-config", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for i := range ty.NumField() {
			f := ty.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			require.Regexp(t, `(?m)(^|[\s{,])`+regexp.QuoteMeta(tag)+`:`, string(raw), "sample config lacks %q", tag)
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == ty.PkgPath() {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(supervision.Config{}))
}

// TestIntegrationSdNotifyBinary: the built daemon under a real NOTIFY_SOCKET
// sends READY only after its tree is up, and STOPPING on SIGTERM (exit 0).
func TestIntegrationSdNotifyBinary(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	d := startDaemon(t, "--state-dir", t.TempDir(), "--fswatch-enabled=false", "--journald-enabled=false",
		"--scrape-enabled=false", "--chembus-enabled=false", "--http-enabled=false")
	var first string
	select {
	case first = <-msgs:
	case <-time.After(20 * time.Second):
		t.Fatalf("no sd_notify message; logs:\n%s", d.logs.String())
	}
	require.Contains(t, first, "READY=1")
	// The daemon logs the tree's start before it tells systemd; our copy of
	// its stderr may lag the datagram, so wait for both lines and compare
	// their order.
	require.Eventually(t, func() bool { return strings.Contains(d.logs.String(), "told systemd the daemon is ready") },
		10*time.Second, 10*time.Millisecond)
	logs := d.logs.String()
	tree := strings.Index(logs, "supervision tree started")
	require.GreaterOrEqual(t, tree, 0, "READY comes after the tree is up")
	require.Less(t, tree, strings.Index(logs, "told systemd the daemon is ready"), "READY comes after the tree is up")
	d.signal(syscall.SIGTERM)
	require.Equal(t, 0, d.waitExit(15*time.Second))
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, "STOPPING=1") {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no STOPPING=1 after SIGTERM")
		}
	}
}
