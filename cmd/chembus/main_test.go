package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kloros/kloros-observer/actors/chembus"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPubRefusesAHeartbeatConsumersDrop(t *testing.T) {
	code, _, stderr := runArgs(t, "--xsub", "tcp://127.0.0.1:1", "pub", "HEARTBEAT", `{"niche":"test"}`)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "not sent: HEARTBEAT facts (SPEC §1.2): zooid = (missing): must be a non-empty string")
	require.Contains(t, stderr, "uptime_s = (missing): must be a number")
	require.Contains(t, stderr, "--no-validate")

	code, _, stderr = runArgs(t, "pub", "HEARTBEAT", `{"signal":"HEARTBEAT","facts":{"zooid":"","niche":"n","uptime_s":1.0,"processed_count":-1}}`)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `zooid = "": must be non-empty and printable`)
	require.Contains(t, stderr, "processed_count = -1: must be an integer >= 0")

	code, _, stderr = runArgs(t, "pub", "HEARTBEAT", `{"signal":"OTHER","facts":{}}`)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `payload signal = OTHER but TOPIC is "HEARTBEAT"`)
}

func TestValidateAcceptsTheColonysHeartbeat(t *testing.T) {
	obj, err := parseObject(`{"signal":"HEARTBEAT","ecosystem":"colony","intensity":1.0,"facts":{"zooid":"z1","niche":"test","uptime_s":1764470000.5,"processed_count":3},"incident_id":null,"trace":null,"ts":1764470000.5,"schema_version":1,"channel":"legacy"}`)
	require.NoError(t, err)
	require.NoError(t, validateSignal("HEARTBEAT", obj, true))
	facts, err := parseObject(`{"zooid":"z1","niche":"test","uptime_s":1,"processed_count":0}`)
	require.NoError(t, err)
	require.NoError(t, validateSignal("HEARTBEAT", facts, false))
	other, err := parseObject(`{"anything":true}`)
	require.NoError(t, err)
	require.NoError(t, validateSignal("CAPABILITY_GAP", other, false))
}

func TestPubNamesTheArgumentThatIsNotJSON(t *testing.T) {
	for arg, want := range map[string]string{
		"not json":   `the JSON argument (2nd, after TOPIC) is not JSON: "not json": invalid character`,
		`{"a":1} x`:  `the JSON argument (2nd, after TOPIC) has more after its first value`,
		`[1,2]`:      `the JSON argument (2nd, after TOPIC) must be a JSON object`,
		`{"zooid":1`: `is not JSON: "{\"zooid\":1"`,
	} {
		code, _, stderr := runArgs(t, "pub", "HEARTBEAT", arg)
		require.Equal(t, 2, code, arg)
		require.Contains(t, stderr, want, arg)
	}
}

// syncBuffer is an io.Writer the test can poll while tail writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTailSaysItIsStillConnectingAndWhere(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := "tcp://" + l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	old := connectingAfter
	connectingAfter = 300 * time.Millisecond
	t.Cleanup(func() { connectingAfter = old })
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--xpub", endpoint, "tail"}, &stdout, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "still connecting to "+endpoint) },
		10*time.Second, 20*time.Millisecond, "stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "connection refused")
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop")
	}
	require.Empty(t, stdout.String())
}

func TestVersion(t *testing.T) {
	code, out, _ := runArgs(t, "--version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "chembus, version "), out)
	for _, want := range []string{"(branch: ", "revision: ", "build date:", "go version:       go", "platform:"} {
		require.Contains(t, out, want)
	}
}

func freeEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

// The connection messages come from the SUB side's log lines: this pins
// them, so renaming one breaks a test rather than tail's messages.
func TestTailSaysWhenItConnects(t *testing.T) {
	xsub, xpub := freeEndpoint(t), freeEndpoint(t)
	ctx, cancel := context.WithCancel(context.Background())
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- chembus.RunProxy(ctx, xsub, xpub) }()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--xpub", xpub, "tail"}, &stdout, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "chembus tail: connected to "+xpub) },
		10*time.Second, 20*time.Millisecond, "stderr: %s", stderr.String())
	require.NotContains(t, stderr.String(), "still connecting")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop")
	}
	select {
	case err := <-proxyDone:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not stop")
	}
}
