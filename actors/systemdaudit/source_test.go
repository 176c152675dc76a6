package systemdaudit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors"
	"github.com/kloros/kloros-observer/actors/clock"
	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/logbuf"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/actors/telemetry"
	"github.com/kloros/kloros-observer/messages"
)

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// startBus runs a private dbus-daemon listening on sock and returns its
// address.
func startBus(t *testing.T, sock string) string {
	t.Helper()
	const bin = "/usr/bin/dbus-daemon"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is needed by this test and is missing: install it with `apt-get install dbus` (make deps does)", bin)
	}
	conf := filepath.Join(t.TempDir(), "bus.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, sock)), 0o600))
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--print-address=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &logbuf.Buffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon stderr:\n%s", stderr.String())
		}
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "dbus-daemon printed no address")
	return strings.TrimSpace(addr)
}

// unitFileReply is one (ss) of ListUnitFilesByPatterns' answer.
type unitFileReply struct {
	Path string
	Type string
}

// fakeManager stands in for org.freedesktop.systemd1.Manager: it answers
// ListUnitFilesByPatterns as systemd does (state and fnmatch filters) and
// records every call. godbus answers any other method with UnknownMethod.
type fakeManager struct {
	mu    sync.Mutex
	units []unitFileReply
	calls []string
}

func (f *fakeManager) ListUnitFilesByPatterns(states, patterns []string) ([]unitFileReply, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("ListUnitFilesByPatterns(%v, %v)", states, patterns))
	out := []unitFileReply{}
	for _, u := range f.units {
		if len(states) > 0 && !slices.Contains(states, u.Type) {
			continue
		}
		match := len(patterns) == 0
		for _, p := range patterns {
			if ok, _ := path.Match(p, path.Base(u.Path)); ok {
				match = true
			}
		}
		if match {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeManager) set(units ...unitFileReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.units = units
}

func (f *fakeManager) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// startSystemd connects a stand-in systemd to the bus at addr.
func startSystemd(t *testing.T, addr string, units ...unitFileReply) *fakeManager {
	t.Helper()
	conn, err := dbus.Dial(addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.Auth(nil))
	require.NoError(t, conn.Hello())
	f := &fakeManager{units: units}
	require.NoError(t, conn.Export(f, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"))
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	require.NoError(t, err)
	require.Equal(t, dbus.RequestNameReplyPrimaryOwner, reply)
	return f
}

type arrival struct {
	ev *messages.Event
	at time.Time
}

type rig struct {
	t      *testing.T
	sys    *actor.ActorSystem
	state  string
	deps   actors.Deps
	disp   *actor.PID
	events chan arrival
	pid    *actor.PID
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, state: t.TempDir(), events: make(chan arrival, 1000)}
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	r.deps = actors.Deps{Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: telemetry.NewMetrics(), Clock: clock.Real{}}
	r.sys = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	t.Cleanup(r.sys.Shutdown)
	t.Cleanup(func() {
		if r.pid != nil {
			r.stop()
		}
	})
	r.disp = r.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *messages.Event:
			r.events <- arrival{m, time.Now()}
		case *messages.Flush:
			c.Send(m.ReplyTo, &messages.Flushed{ID: m.ID})
		}
	}))
	return r
}

func (r *rig) start(bus string) {
	r.t.Helper()
	cfg := DefaultConfig()
	cfg.Bus, cfg.RetryInitial, cfg.RetryMax = bus, 20*time.Millisecond, 100*time.Millisecond
	v := config.NewChecker(nil)
	cfg.Validate(v)
	require.NoError(r.t, v.Err())
	cfg.StateFile, cfg.Dispatcher = StateFile(r.state), r.disp
	r.pid = r.sys.Root.Spawn(actor.PropsFromProducer(New(cfg, r.deps)))
}

func (r *rig) stop() {
	r.t.Helper()
	require.NoError(r.t, r.sys.Root.StopFuture(r.pid).Wait())
	r.pid = nil
}

func (r *rig) next() arrival {
	r.t.Helper()
	select {
	case a := <-r.events:
		return a
	case <-time.After(15 * time.Second):
		r.t.Fatal("no systemd_disabled event within 15s")
		return arrival{}
	}
}

func (r *rig) metric(name string) float64 {
	r.t.Helper()
	mfs, err := r.deps.Metrics.Registry.Gather()
	require.NoError(r.t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

func (r *rig) readState() state {
	r.t.Helper()
	var st state
	b, err := os.ReadFile(StateFile(r.state))
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// waitReported waits until the state file holds n reported units and a
// finished audit.
func (r *rig) waitReported(n int) state {
	r.t.Helper()
	var st state
	require.Eventually(r.t, func() bool {
		st = r.readState()
		return len(st.Reported) == n && !st.LastAudit.IsZero()
	}, 15*time.Second, 10*time.Millisecond, "state never held %d reported units and a finished audit", n)
	return st
}

func units() []unitFileReply {
	return []unitFileReply{
		{"/etc/systemd/system/kloros-winner-deployer.service", "disabled"},
		{"/lib/systemd/system/backup.timer", "disabled"},
		{"/lib/systemd/system/systemd-networkd.service", "disabled"},       // excluded
		{"/lib/systemd/system/getty@.service", "disabled"},                 // excluded
		{"/lib/systemd/system/rescue.service", "disabled"},                 // excluded
		{"/lib/systemd/system/dbus-org.freedesktop.x.service", "disabled"}, // excluded
		{"/lib/systemd/system/kloros.service", "enabled"},                  // not disabled
		{"/lib/systemd/system/cups.socket", "disabled"},                    // not a service or timer
	}
}

// The audit asks systemd for disabled services and timers (one call),
// drops the system units, and reports each remaining one once, at most one
// a second.
func TestAuditReportsDisabledUnitsPaced(t *testing.T) {
	addr := startBus(t, filepath.Join(t.TempDir(), "bus"))
	sd := startSystemd(t, addr, units()...)
	r := newRig(t)
	r.start(addr)
	a1, a2 := r.next(), r.next()
	require.Equal(t, EventSource, a1.ev.Source)
	require.Equal(t, EventType, a1.ev.Type)
	require.Equal(t, "backup.timer", a1.ev.Data["unit"])
	require.Equal(t, "disabled", a1.ev.Data["state"])
	require.Equal(t, "systemd unit backup.timer is disabled", a1.ev.Data["message"])
	require.Equal(t, "kloros-winner-deployer.service", a2.ev.Data["unit"])
	require.GreaterOrEqual(t, a2.at.Sub(a1.at), 950*time.Millisecond, "paced: at most one event a second")
	st := r.waitReported(2)
	require.Equal(t, map[string]string{"backup.timer": "disabled", "kloros-winner-deployer.service": "disabled"}, st.Reported)
	require.Equal(t, []string{"ListUnitFilesByPatterns([disabled], [*.service *.timer])"}, sd.calls, "the only call made")
	require.Equal(t, float64(1), r.metric("kloros_observer_systemd_audit_audits_total"))
	require.Equal(t, float64(2), r.metric("kloros_observer_systemd_audit_events_total"))
}

// A restart remembers: it does not audit again before the interval has
// passed, and an audit after a restart reports only units not reported yet.
func TestRestartRemembers(t *testing.T) {
	addr := startBus(t, filepath.Join(t.TempDir(), "bus"))
	sd := startSystemd(t, addr, units()[:1]...)
	r := newRig(t)
	r.start(addr)
	require.Equal(t, "kloros-winner-deployer.service", r.next().ev.Data["unit"])
	st := r.waitReported(1)
	r.stop()

	// Restart within the interval: no audit until it has passed.
	sd.set(units()...)
	r.start(addr)
	require.Eventually(t, func() bool {
		return r.metric("kloros_observer_systemd_audit_next_audit_timestamp_seconds") == float64(st.LastAudit.Add(24*time.Hour).Unix())
	}, 5*time.Second, 5*time.Millisecond, "the next audit is due a day after the last one")
	require.Never(t, func() bool { return sd.callCount() > 1 || len(r.events) > 0 }, 1500*time.Millisecond, 20*time.Millisecond,
		"a restart within the interval audits nothing")
	r.stop()

	// The interval has passed (as the state says): one audit, and only the
	// unit not reported before.
	st.LastAudit = st.LastAudit.Add(-25 * time.Hour)
	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(StateFile(r.state), b, 0o600))
	r.start(addr)
	require.Equal(t, "backup.timer", r.next().ev.Data["unit"])
	r.waitReported(2)
	require.Equal(t, 2, sd.callCount())
	require.Empty(t, r.events, "kloros-winner-deployer.service was reported before the restart")

	// A unit enabled since is forgotten: disabled again, it is a new case.
	r.stop()
	sd.set(units()[1:]...) // kloros-winner-deployer.service is no longer listed as disabled
	st = r.readState()
	st.LastAudit = st.LastAudit.Add(-25 * time.Hour)
	b, _ = json.Marshal(st)
	require.NoError(t, os.WriteFile(StateFile(r.state), b, 0o600))
	r.start(addr)
	st = r.waitReported(1)
	require.Equal(t, map[string]string{"backup.timer": "disabled"}, st.Reported)
	require.Empty(t, r.events)
}

// Without a bus the audit counts and retries, never crashes; once the bus
// and systemd are there, it audits.
func TestNoBusIsRetried(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "bus")
	r := newRig(t)
	r.deps.Stream = observe.New(nil)
	health := r.deps.Stream.Subscribe("test", 100, observe.Sources)
	r.start("unix:path=" + sock)
	require.Eventually(t, func() bool { return r.metric("kloros_observer_systemd_audit_bus_errors_total") >= 3 },
		10*time.Second, 5*time.Millisecond, "bus errors are counted and retried")
	addr := startBus(t, sock)
	startSystemd(t, addr, units()[:1]...)
	require.Equal(t, "kloros-winner-deployer.service", r.next().ev.Data["unit"])
	var seen []bool
	for len(seen) < 2 {
		select {
		case p := <-health.C():
			so := p.(*messages.SourceObserved)
			require.Equal(t, EventSource, so.Source)
			seen = append(seen, so.Healthy)
		case <-time.After(5 * time.Second):
			t.Fatalf("source health published: %v, want down then up", seen)
		}
	}
	require.Equal(t, []bool{false, true}, seen, "down once (not once per retry), then up")
	// A bus without systemd on it: also a counted, retried condition.
	r2 := newRig(t)
	r2.start(startBus(t, filepath.Join(t.TempDir(), "bus2")))
	require.Eventually(t, func() bool { return r2.metric("kloros_observer_systemd_audit_bus_errors_total") >= 2 },
		10*time.Second, 5*time.Millisecond)
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	v := config.NewChecker(nil)
	c.Validate(v.At("systemd_audit"))
	require.NoError(t, v.Err())
	require.Len(t, c.Exclude, 22)
	for _, u := range []string{"systemd-journald.service", "getty@tty1.service", "user@1000.service", "dbus-broker.service"} {
		require.True(t, c.excluded(u), u)
	}
	require.False(t, c.excluded("kloros-observer.service"))
	c.Bus, c.Pace, c.Interval, c.Exclude = "nowhere", 100*time.Millisecond, time.Second, []string{""}
	v = config.NewChecker(nil)
	c.Validate(v.At("systemd_audit"))
	err := v.Err()
	for _, want := range []string{"systemd_audit.bus", "nowhere", "systemd_audit.pace", "100ms", "systemd_audit.interval", "systemd_audit.exclude"} {
		require.ErrorContains(t, err, want)
	}
}
