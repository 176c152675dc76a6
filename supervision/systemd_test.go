package supervision

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
)

type datagrams struct {
	mu  sync.Mutex
	got []string
	at  []time.Time
}

func (d *datagrams) count(prefix string, since time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i, g := range d.got {
		if strings.HasPrefix(g, prefix) && !d.at[i].Before(since) {
			n++
		}
	}
	return n
}

// TestSdNotifyAgainstRealSocket runs the daemon's Run with a real
// NOTIFY_SOCKET: READY once the tree is up, STATUS lines, WATCHDOG pings
// that stop while the root actor is wedged and resume after, STOPPING at
// shutdown.
func TestSdNotifyAgainstRealSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000") // ping every 200 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	d := &datagrams{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			d.mu.Lock()
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				d.got = append(d.got, line)
				d.at = append(d.at, time.Now())
			}
			d.mu.Unlock()
		}
	}()

	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.FSWatch.Enabled, cfg.Journald.Enabled, cfg.Scrape.Enabled, cfg.ChemBus.Enabled, cfg.HTTP.Enabled = false, false, false, false, false
	cfg.Systemd.StatusInterval = 300 * time.Millisecond
	cfg.Systemd.WatchdogProbeTimeout = 100 * time.Millisecond
	cfg.Resolve()
	ctx, cancel := context.WithCancel(context.Background())
	type up struct {
		s    *actor.ActorSystem
		root *actor.PID
	}
	ready := make(chan up, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, quietLogger(), Hooks{Ready: func(s *actor.ActorSystem, r *actor.PID) { ready <- up{s, r} }})
	}()
	u := <-ready
	require.Eventually(t, func() bool { return d.count("READY=1", time.Time{}) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return d.count("WATCHDOG=1", time.Time{}) >= 2 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return d.count("STATUS=uptime", time.Time{}) >= 2 }, 5*time.Second, 10*time.Millisecond)

	release := make(chan struct{})
	u.s.Root.Send(u.root, &Wedge{Release: release})
	time.Sleep(400 * time.Millisecond) // a ping already in flight may still land
	wedged := time.Now()
	time.Sleep(time.Second) // five ping intervals
	require.Equal(t, 0, d.count("WATCHDOG=1", wedged), "no ping while the root actor is wedged")
	close(release)
	require.Eventually(t, func() bool { return d.count("WATCHDOG=1", wedged) >= 1 }, 5*time.Second, 10*time.Millisecond,
		"pings resume once the root answers")

	cancel()
	require.NoError(t, <-done)
	// The datagram is in the socket when Run returns; the reader goroutine
	// may not have taken it out yet.
	require.Eventually(t, func() bool { return d.count("STOPPING=1", time.Time{}) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // nothing more arrives after STOPPING
	require.Equal(t, 1, d.count("STOPPING=1", time.Time{}))
	require.Equal(t, 1, d.count("READY=1", time.Time{}))
}

// Outside systemd nothing is sent and nothing fails.
func TestSdNotifyOutsideSystemdIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := newNotifier(nil, nil, DefaultConfig().Systemd, nil, time.Now(), quietLogger())
	require.False(t, n.send("READY=1"))
}
