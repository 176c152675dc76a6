package chembus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/logbuf"

	"github.com/kloros/kloros-observer/actors"

	"github.com/asynkron/protoactor-go/actor"
	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/timer"
	"github.com/kloros/kloros-observer/messages"
)

func freeEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return fmt.Sprintf("tcp://%s", l.Addr())
}

// busProxy runs a real XSUB/XPUB proxy on fresh loopback ports.
func busProxy(t *testing.T) (xsub, xpub string, p *proxy) {
	t.Helper()
	xsub, xpub = freeEndpoint(t), freeEndpoint(t)
	p, err := startProxy(xsub, xpub)
	require.NoError(t, err)
	t.Cleanup(func() {
		if p != nil {
			p.stop()
		}
	})
	return xsub, xpub, p
}

// testPub is a PUB socket used from the test goroutine only (locked).
type testPub struct {
	ctx *zmq.Context
	s   *zmq.Socket
}

func newTestPub(t *testing.T, xsub string) *testPub {
	t.Helper()
	runtime.LockOSThread()
	ctx, err := zmq.NewContext()
	require.NoError(t, err)
	s, err := ctx.NewSocket(zmq.PUB)
	require.NoError(t, err)
	require.NoError(t, s.SetSndhwm(0)) // never shed in the test publisher
	require.NoError(t, s.Connect(xsub))
	p := &testPub{ctx: ctx, s: s}
	t.Cleanup(func() { s.SetLinger(0); s.Close(); ctx.Term(); runtime.UnlockOSThread() })
	return p
}

func (p *testPub) send(t *testing.T, frames ...any) {
	t.Helper()
	_, err := p.s.SendMessage(frames...)
	require.NoError(t, err)
}

func heartbeatJSON(zooid string, n int) string {
	return fmt.Sprintf(`{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":%q,"niche":"n","uptime_s":1795408000.5,"processed_count":%d},"incident_id":null,"trace":null,"ts":1795408000.5,"schema_version":1}`, zooid, n)
}

func startChemBus(t *testing.T, xsub, xpub string, opts ...func(*Config)) (*actor.PID, chan any, actors.Deps, *actor.ActorSystem) {
	t.Helper()
	s := actortest.NewSystem(t)
	reg, ch := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	cfg := Config{XSub: xsub, XPub: xpub, HeartbeatInterval: time.Hour,
		Zooid: "kloros_observer", Niche: "monitoring", OnKill: "pause", MaxFrameBytes: 4096, Registry: reg,
		ProcessStart: time.Now()}
	for _, o := range opts {
		o(&cfg)
	}
	pid := s.Root.Spawn(actor.PropsFromProducer(New(cfg, deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	return pid, ch, deps, s
}

// subscribed publishes a heartbeat until the actor has it: the slow-joiner
// window of a fresh SUB is over.
func subscribed(t *testing.T, p *testPub, ch chan any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.send(t, "HEARTBEAT", heartbeatJSON("warmup", 0))
		select {
		case m := <-ch:
			if hb, ok := m.(*messages.HeartbeatReceived); ok && hb.Zooid == "warmup" {
				for len(ch) > 0 {
					<-ch
				}
				return
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the ChemBus actor never received a heartbeat")
}

// subscribers is every chembus.subscriber; the tests that subscribe run
// against each (eachSubscriber).
var subscribers = []string{SubscriberZMTP, SubscriberLibzmq}

// eachSubscriber runs test once per subscriber, as a subtest named after
// it; sub sets that subscriber in a Config.
func eachSubscriber(t *testing.T, test func(t *testing.T, sub func(*Config))) {
	for _, kind := range subscribers {
		t.Run(kind, func(t *testing.T) { test(t, func(c *Config) { c.Subscriber = kind }) })
	}
}

func TestChemBusDeliversHeartbeatsThroughProxy(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		_, ch, _, _ := startChemBus(t, xsub, xpub, sub)
		p := newTestPub(t, xsub)
		subscribed(t, p, ch)
		p.send(t, "HEARTBEAT", heartbeatJSON("zooid_a", 42))
		hb := actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second)
		require.Equal(t, "zooid_a", hb.Zooid)
		require.Equal(t, "n", hb.Niche)
		require.Equal(t, int64(42), hb.ProcessedCount)
		require.WithinDuration(t, time.Now(), hb.At, 5*time.Second)
	})
}

// With a coalescing window, while heartbeats keep coming the SUB side reads
// them off the socket only on the window's grid (timer.NextTick), but each
// keeps the time it arrived (its sender's ts, clamped into the window). A
// kick reads at once, and so does the first read after a quiet one.
func TestChemBusCoalescesButKeepsArrivalTimes(t *testing.T) {
	const window = 500 * time.Millisecond
	xsub, xpub, _ := busProxy(t)
	wm := NewWatermark()
	_, ch, _, _ := startChemBus(t, xsub, xpub, func(c *Config) { c.Coalesce = window; c.Watermark = wm })
	p := newTestPub(t, xsub)
	subscribed(t, p, ch)
	hbAt := func(zooid string, at time.Time) string {
		return fmt.Sprintf(`{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":%q,"niche":"n","uptime_s":1,"processed_count":1},"incident_id":null,"trace":null,"ts":%.6f,"schema_version":1}`,
			zooid, float64(at.UnixNano())/1e9)
	}
	// openWindow has a heartbeat read early in a window and returns the
	// grid tick at which the next read is due (at least 200 ms away).
	openWindow := func() time.Time {
		for range 10 {
			p.send(t, "HEARTBEAT", hbAt("opener", time.Now()))
			actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second)
			d := time.Now()
			tick := timer.NextTick(d, window)
			if tick.Sub(d) >= 200*time.Millisecond && window-tick.Sub(d) >= 20*time.Millisecond {
				return tick // read in this window, next read at tick
			}
			time.Sleep(time.Until(tick) + 50*time.Millisecond) // the read at tick finds nothing: quiet again
		}
		t.Fatal("could not open a coalescing window")
		return time.Time{}
	}

	tick := openWindow()
	sent := time.Now()
	p.send(t, "HEARTBEAT", hbAt("zooid_a", sent))
	hb := actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second)
	require.Equal(t, "zooid_a", hb.Zooid)
	require.False(t, time.Now().Before(tick.Add(-5*time.Millisecond)), "read at the window's tick, not at once")
	require.InDelta(t, 0, hb.At.Sub(sent), float64(20*time.Millisecond), "but stamped with its arrival")
	require.Equal(t, wm.forwarded.Load(), hb.Seq)
	require.Equal(t, wm.handed.Load(), wm.consumed.Load())

	tick = openWindow()
	sent = time.Now()
	p.send(t, "HEARTBEAT", hbAt("zooid_b", sent))
	time.Sleep(5 * time.Millisecond) // let it reach our socket
	wm.Kick()
	require.Equal(t, "zooid_b", actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second).Zooid)
	require.True(t, time.Now().Before(tick.Add(-100*time.Millisecond)), "a kick reads at once")

	time.Sleep(2 * window) // a read finds nothing: the bus is quiet
	sent = time.Now()
	p.send(t, "HEARTBEAT", hbAt("zooid_c", sent))
	require.Equal(t, "zooid_c", actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second).Zooid)
	require.Less(t, time.Since(sent), 150*time.Millisecond, "after a quiet read the first message is read at once")
}

// A proxy that goes away and comes back (a restart of the colony's proxy)
// is subscribed to again; nothing else is needed. (Only the zmtp side can
// tell the watermark it is disconnected.)
func TestChemBusResubscribesWhenProxyRestarts(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, p := busProxy(t)
		wm := NewWatermark()
		_, ch, _, _ := startChemBus(t, xsub, xpub, sub, func(c *Config) { c.Watermark = wm })
		subscribed(t, newTestPub(t, xsub), ch)
		var cfg Config
		sub(&cfg)
		zmtpSide := effectiveSubscriber(cfg.Subscriber) == SubscriberZMTP // libzmq never says it is disconnected
		require.False(t, wm.parked.Load(), "connected")
		p.stop()
		if zmtpSide {
			require.Eventually(t, wm.parked.Load, 5*time.Second, 10*time.Millisecond, "the SUB side noticed the proxy left")
		}
		time.Sleep(300 * time.Millisecond) // a few failed reconnects
		p2, err := startProxy(xsub, xpub)
		require.NoError(t, err)
		t.Cleanup(p2.stop)
		subscribed(t, newTestPub(t, xsub), ch)
	})
}

func TestChemBusDropsMalformedByReason(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		_, ch, deps, _ := startChemBus(t, xsub, xpub, sub)
		p := newTestPub(t, xsub)
		subscribed(t, p, ch)
		cases := []struct {
			reason string
			frames []any
		}{
			{"frame_count", []any{"HEARTBEAT"}},
			{"frame_count", []any{"HEARTBEAT", heartbeatJSON("x", 1), "extra"}},
			{"oversize", []any{"HEARTBEAT", `{"facts":{"zooid":"` + strings.Repeat("x", 5000) + `"}}`}},
			{"invalid_utf8", []any{"HEARTBEAT", []byte{'{', 0xff, '}'}}},
			{"invalid_json", []any{"HEARTBEAT", `{"facts":`}},
			{"not_object", []any{"HEARTBEAT", `[1,2]`}},
			{"topic_mismatch", []any{"HEARTBEAT", `{"signal":"OTHER","facts":{"zooid":"x"}}`}},
			{"facts_not_object", []any{"HEARTBEAT", `{"signal":"HEARTBEAT","facts":[1]}`}},
			{"bad_zooid", []any{"HEARTBEAT", `{"facts":{"niche":"n"}}`}},
			{"bad_zooid", []any{"HEARTBEAT", `{"facts":{"zooid":""}}`}},
			{"bad_zooid", []any{"HEARTBEAT", `{"facts":{"zooid":"` + strings.Repeat("z", 300) + `"}}`}},
			{"bad_zooid", []any{"HEARTBEAT", `{"facts":{"zooid":7}}`}},
			{"bad_zooid", []any{"HEARTBEAT", `{"facts":{"zooid":"a\u0000b"}}`}},
			{"bad_niche", []any{"HEARTBEAT", `{"facts":{"zooid":"a","niche":5}}`}},
			{"bad_number", []any{"HEARTBEAT", `{"facts":{"zooid":"a","processed_count":"many"}}`}},
			{"bad_number", []any{"HEARTBEAT", `{"facts":{"zooid":"a","uptime_s":true}}`}},
			{"bad_incident_id", []any{"HEARTBEAT", `{"facts":{"zooid":"a"},"incident_id":5}`}},
		}
		want := map[string]float64{}
		for _, c := range cases {
			p.send(t, c.frames...)
			want[c.reason]++
		}
		p.send(t, "HEARTBEAT", heartbeatJSON("after_garbage", 1)) // still works
		require.Equal(t, "after_garbage", actortest.Next[*messages.HeartbeatReceived](t, ch, 5*time.Second).Zooid)
		for reason, n := range want {
			require.Equal(t, n, actortest.CounterValue(t, deps.Metrics, "kloros_observer_chembus_messages_dropped_total", map[string]string{"reason": reason}), reason)
		}
	})
}

func TestChemBusSurvivesGarbageFlood(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		_, ch, deps, _ := startChemBus(t, xsub, xpub, sub)
		p := newTestPub(t, xsub)
		subscribed(t, p, ch)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		const n = 100000
		junk := []byte(`{"facts":{"zooid":""},"x":"` + strings.Repeat("j", 200) + `"}`)
		for i := range n {
			if i%3 == 0 {
				p.send(t, "HEARTBEAT", junk, "x")
			} else {
				p.send(t, "HEARTBEAT", junk)
			}
		}
		p.send(t, "HEARTBEAT", heartbeatJSON("survivor", 1))
		require.Equal(t, "survivor", actortest.Next[*messages.HeartbeatReceived](t, ch, 30*time.Second).Zooid)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(32<<20), "memory stays bounded")
		dropped := actortest.CounterValue(t, deps.Metrics, "kloros_observer_chembus_messages_dropped_total", nil)
		require.Equal(t, float64(n), dropped, "every garbage message is dropped and counted")
	})
}

// A Python peer (python3-zmq) receives what we publish and reads it.
func TestChemBusPythonPeerReadsOurSignals(t *testing.T) {
	requirePython(t)
	xsub, xpub, _ := busProxy(t)
	pid, _, _, s := startChemBus(t, xsub, xpub)
	script := `
import json, sys, zmq
ctx = zmq.Context(); sub = ctx.socket(zmq.SUB); sub.connect(sys.argv[1])
sub.setsockopt_string(zmq.SUBSCRIBE, "CAPABILITY_GAP"); sub.setsockopt(zmq.RCVTIMEO, 15000)
print("ready", flush=True)
topic, payload = sub.recv_multipart()
obj = json.loads(payload)
assert topic == b"CAPABILITY_GAP", topic
assert list(obj) == ["signal","ecosystem","intensity","facts","incident_id","trace","ts","schema_version"], list(obj)
assert obj["schema_version"] == 1 and isinstance(obj["intensity"], float) and isinstance(obj["ts"], float)
assert obj["facts"]["zooid"] == "zooid_\u00e9" and obj["incident_id"] == "inc-1" and obj["trace"] is None
assert b'", "' not in payload and b'": ' not in payload, payload
print("ok", flush=True)
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, xpub)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	_, err = out.Read(buf)
	require.NoError(t, err)
	id := "inc-1"
	gap := &messages.Publish{Topic: messages.TopicGap, Signal: messages.Signal{Signal: messages.TopicGap, Ecosystem: "monitoring", Intensity: 1,
		Facts: map[string]any{"zooid": "zooid_é", "missing_seconds": 30.0}, IncidentID: &id, TS: 1795408000}}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for {
		s.Root.Send(pid, gap) // repeat until the peer's subscription has propagated
		select {
		case err := <-done:
			require.NoError(t, err, "the Python peer rejected our payload")
			return
		case <-deadline:
			t.Fatal("the Python peer never received a CAPABILITY_GAP")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func requirePython(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import zmq").CombinedOutput(); err != nil {
		t.Fatalf("this test needs python3-zmq: apt-get install python3-zmq (%v: %s)", err, out)
	}
}

// The proxy is down when we start, then comes up: ZeroMQ reconnects.
func TestChemBusSurvivesProxyDownAtStart(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub := freeEndpoint(t), freeEndpoint(t)
		_, ch, _, _ := startChemBus(t, xsub, xpub, sub)
		time.Sleep(300 * time.Millisecond) // the actor runs with nothing to connect to
		p, err := startProxy(xsub, xpub)
		require.NoError(t, err)
		t.Cleanup(p.stop)
		subscribed(t, newTestPub(t, xsub), ch)
	})
}

func TestProxyAutoModeEmbedsOnlyWhenFree(t *testing.T) {
	s := actortest.NewSystem(t)
	xsub, xpub := freeEndpoint(t), freeEndpoint(t)
	deps := actortest.Deps(t, nil)
	a := s.Root.Spawn(actor.PropsFromProducer(NewProxy("auto", xsub, xpub, deps)))
	_, err := s.Root.RequestFuture(a, &actor.Touch{}, 5*time.Second).Result()
	require.NoError(t, err)
	require.Equal(t, 1.0, actortest.CounterValue(t, deps.Metrics, "kloros_observer_chembus_proxy_embedded", nil))
	deps2 := actortest.Deps(t, nil)
	b := s.Root.Spawn(actor.PropsFromProducer(NewProxy("auto", xsub, xpub, deps2)))
	_, err = s.Root.RequestFuture(b, &actor.Touch{}, 5*time.Second).Result()
	require.NoError(t, err)
	require.Equal(t, 0.0, actortest.CounterValue(t, deps2.Metrics, "kloros_observer_chembus_proxy_embedded", nil), "someone else is bound: use theirs")
	require.NoError(t, s.Root.StopFuture(a).Wait())
	require.NoError(t, s.Root.StopFuture(b).Wait())
	_, err = startProxy(xsub, xpub) // released: bindable again
	require.NoError(t, err)
}

// Messages published right before stop all arrive (linger + context term).
func TestChemBusDeliversQueuedPublishesAtStop(t *testing.T) {
	xsub, xpub, _ := busProxy(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	zctx, _ := zmq.NewContext()
	sub, _ := zctx.NewSocket(zmq.SUB)
	sub.SetRcvhwm(0) // unbounded: the burst must not be shed by this test's own socket (default HWM 1000)
	sub.SetSubscribe("LINGER_TEST")
	sub.SetRcvtimeo(5 * time.Second)
	require.NoError(t, sub.Connect(xpub))
	defer func() { sub.SetLinger(0); sub.Close(); zctx.Term() }()
	s := actortest.NewSystem(t)
	reg, _ := actortest.Probe(t, s)
	deps := actortest.Deps(t, nil)
	pid := s.Root.Spawn(actor.PropsFromProducer(New(Config{XSub: xsub, XPub: xpub, HeartbeatInterval: time.Hour,
		Zooid: "z", OnKill: "pause", MaxFrameBytes: 4096, Registry: reg, ProcessStart: time.Now()}, deps)))
	// Wait until the path is live, then queue a burst and stop at once.
	live := false
	for i := 0; i < 100 && !live; i++ {
		s.Root.Send(pid, &messages.Publish{Topic: "LINGER_TEST", Signal: messages.Signal{Signal: "probe"}})
		sub.SetRcvtimeo(50 * time.Millisecond)
		if _, err := sub.RecvMessageBytes(0); err == nil {
			live = true
		}
	}
	require.True(t, live)
	for { // drain probes
		if _, err := sub.RecvMessageBytes(0); err != nil {
			break
		}
	}
	const n = 2000
	for i := range n {
		s.Root.Send(pid, &messages.Publish{Topic: "LINGER_TEST", Signal: messages.Signal{Signal: "burst", TS: float64(i)}})
	}
	require.NoError(t, s.Root.PoisonFuture(pid).Wait())
	sub.SetRcvtimeo(2 * time.Second)
	got := 0
	for {
		if _, err := sub.RecvMessageBytes(0); err != nil {
			break
		}
		got++
	}
	require.Equal(t, n, got, "every message queued before stop was delivered (publish errors: %v, published: %v)",
		actortest.CounterValue(t, deps.Metrics, "kloros_observer_chembus_publish_errors_total", nil),
		actortest.CounterValue(t, deps.Metrics, "kloros_observer_chembus_published_total", map[string]string{"topic": "LINGER_TEST"}))
}

// The ChemBus actor's SUB side connects only once the proxy actor has bound
// the embedded proxy: starting both together never logs a failed subscribe
// (about one start in seven did, when the SUB side dialled first; without
// ProxyActor this test fails within its ten starts).
func TestChemBusWaitsForTheEmbeddedProxy(t *testing.T) {
	for i := range 10 {
		s := actortest.NewSystem(t)
		logs := &logbuf.Buffer{}
		deps := actortest.Deps(t, nil)
		deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
		xsub, xpub := freeEndpoint(t), freeEndpoint(t)
		reg, _ := actortest.Probe(t, s)
		proxy := s.Root.Spawn(actor.PropsFromProducer(NewProxy("embedded", xsub, xpub, deps)))
		cfg := DefaultConfig()
		cfg.XSub, cfg.XPub, cfg.Registry, cfg.ProxyActor, cfg.HeartbeatInterval = xsub, xpub, reg, proxy, time.Hour
		bus := s.Root.Spawn(actor.PropsFromProducer(New(cfg, deps)))
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "subscribed on ChemBus") }, 10*time.Second, 5*time.Millisecond, "start %d:\n%s", i, logs)
		require.NotContains(t, logs.String(), "cannot subscribe", "start %d", i)
		require.NoError(t, s.Root.StopFuture(bus).Wait())
		require.NoError(t, s.Root.StopFuture(proxy).Wait())
	}
}

// on_kill=exit asks whoever runs the actor to stop (Config.Stop: the
// supervision tree's shutdown path), after telling the registry to pause;
// it never signals its own process. Without a Stop it pauses and says so.
func TestChemBusKillExitAsksToStop(t *testing.T) {
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		stops := make(chan string, 4)
		_, ch, _, _ := startChemBus(t, xsub, xpub, sub, func(c *Config) {
			c.OnKill = "exit"
			c.Stop = func(reason string) { stops <- reason }
		})
		p := newTestPub(t, xsub)
		subscribed(t, p, ch)
		p.send(t, messages.TopicKill, `{"signal":"governance.kill","ecosystem":"governance","intensity":1.0,"facts":{"reason":"test"},"incident_id":null,"trace":null,"ts":1795408000.5,"schema_version":1,"channel":"legacy"}`)
		kill := actortest.Next[*messages.KillReceived](t, ch, 5*time.Second)
		require.Equal(t, "test", kill.Facts["reason"], "the registry is told first: gaps pause while the tree drains")
		select {
		case reason := <-stops:
			require.Contains(t, reason, "governance.kill")
		case <-time.After(5 * time.Second):
			t.Fatal("on_kill=exit did not ask the tree to stop")
		}
	})
}

// A path to the proxy that goes silent while staying open (a frozen TCP
// proxy: a half-open connection) is dropped once an idle PING goes
// unanswered — PingInterval + PingTimeout after the last byte — and the
// SUB side connects again and receives: with our reader (ZMTP PING) and
// with libzmq's SUB socket (ZMQ_HEARTBEAT_IVL/TIMEOUT).
func TestChemBusDropsASilentPathAndReconnects(t *testing.T) {
	const ivl, timeout = 300 * time.Millisecond, 300 * time.Millisecond
	eachSubscriber(t, func(t *testing.T, sub func(*Config)) {
		xsub, xpub, _ := busProxy(t)
		fw := actortest.NewForwarder(t, strings.TrimPrefix(xpub, "tcp://"))
		_, ch, _, _ := startChemBus(t, xsub, "tcp://"+fw.Addr, sub, func(c *Config) {
			c.PingInterval, c.PingTimeout = ivl, timeout
		})
		p := newTestPub(t, xsub)
		subscribed(t, p, ch)
		conns := fw.Connections()
		fw.Freeze()
		frozen := time.Now()
		// Heartbeats keep coming; none gets through the frozen connection.
		var got *messages.HeartbeatReceived
		for got == nil {
			require.Less(t, time.Since(frozen), 10*time.Second, "never reconnected")
			p.send(t, "HEARTBEAT", heartbeatJSON("after_freeze", 1))
			select {
			case m := <-ch:
				if hb, ok := m.(*messages.HeartbeatReceived); ok && hb.Zooid == "after_freeze" {
					got = hb
				}
			case <-time.After(50 * time.Millisecond):
			}
		}
		took := time.Since(frozen)
		require.Greater(t, fw.Connections(), conns, "through a new connection")
		require.Greater(t, took, ivl, "the silent connection was not dropped before its PING went unanswered")
		require.Less(t, took, ivl+timeout+2*time.Second, "dropped and reconnected within PingInterval + PingTimeout (+ reconnect)")
		t.Logf("%s: a silent path was replaced after %s", fw.Addr, took.Round(time.Millisecond))
	})
}
