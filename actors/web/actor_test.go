package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/kloros/kloros-observer/actors/actortest"
	"github.com/kloros/kloros-observer/actors/observe"
	"github.com/kloros/kloros-observer/messages"
)

// A busy port does not end the daemon: the actor keeps running, counts and
// logs the failure, and serves as soon as the port is free.
func TestHTTPActorRetriesABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := busy.Addr().String()
	sys := actortest.NewSystem(t)
	deps := actortest.Deps(t, nil)
	deps.Stream = observe.New(sys.Root)
	cfg := DefaultHTTPConfig()
	cfg.Listen, cfg.RetryMin, cfg.RetryMax = addr, 20*time.Millisecond, 50*time.Millisecond
	listening := make(chan string, 1)
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(NewHTTP(ActorConfig{Options: Options{Config: cfg,
		IntentsDir: t.TempDir()}, OnListen: func(a string) { listening <- a }}, deps)), "http")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return actortest.CounterValue(t, deps.Metrics, "kloros_observer_http_listen_failures_total", nil) >= 3
	}, 10*time.Second, 10*time.Millisecond)
	select {
	case <-listening:
		t.Fatal("listened on a busy port")
	default:
	}
	require.NoError(t, busy.Close())
	select {
	case a := <-listening:
		require.Equal(t, addr, a)
	case <-time.After(10 * time.Second):
		t.Fatal("did not listen once the port was free")
	}
	resp, err := http.Get("http://" + addr + "/api/v1/status")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, sys.Root.StopFuture(pid).Wait())
	_, err = http.Get("http://" + addr + "/healthz")
	require.Error(t, err, "released on stop")
}

// On a web config with TLS and basic auth, exporter-toolkit refuses a request
// without the credentials, and writes are allowed to those who have them.
func TestServeTLSBasicAuth(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "web.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  operator: %s\n",
		cert, key, hash)), 0o600))
	f := newFixture(t, func(o *Options) { o.Config.WebConfigFile = cfgFile }, colony()...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{}
	go func() { _ = f.srv.Serve(ln, srv) }()
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + ln.Addr().String()
	do := func(method, path, user, pass, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Origin", "https://elsewhere.example") // auth, not origin, decides here
		var resp *http.Response
		require.Eventually(t, func() bool { resp, err = client.Do(req); return err == nil }, 5*time.Second, 10*time.Millisecond)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := do("GET", "/api/v1/zooids", "", "", "")
	require.Equal(t, 401, code)
	code, _ = do("POST", "/api/v1/silences", "operator", "wrong", `{"zooid":"gpu-0","duration":"1h"}`)
	require.Equal(t, 401, code)
	code, body := do("POST", "/api/v1/silences", "operator", "s3cret", `{"zooid":"gpu-0","duration":"1h"}`)
	require.Equal(t, 201, code, body)
	require.Contains(t, body, `"created_by":"operator"`)
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, 200, resp.StatusCode, "plain HTTP refused")
	}

	_, err = New(Options{Feed: f.feed, Config: HTTPConfig{WebConfigFile: filepath.Join(dir, "missing.yml")}})
	require.ErrorContains(t, err, "http.web_config_file")
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return cert, key
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// /metrics passes promtool; /readyz says why it is not ready (tree still
// starting, intents directory not writable, ChemBus not connected).
func TestHTTPActorMetricsHealthReady(t *testing.T) {
	if _, err := os.Stat("/usr/bin/promtool"); err != nil {
		t.Fatal("this test needs promtool: apt-get install prometheus")
	}
	dir := filepath.Join(t.TempDir(), "intents")
	s := actortest.NewSystem(t)
	deps := actortest.Deps(t, nil)
	deps.Stream = observe.New(s.Root)
	deps.Metrics.Core.Events.WithLabelValues("inotify", "promotion_new").Add(3)
	deps.Metrics.Heartbeat.Zooids.WithLabelValues("alive").Set(2)
	var ready atomic.Bool
	addr := make(chan string, 1)
	cfg := DefaultHTTPConfig()
	cfg.Listen = "127.0.0.1:0"
	o := Options{Config: cfg, IntentsDir: dir, Metrics: MetricsHandler(deps.Metrics.Registry), ChemBusEnabled: true,
		Ready: func() error {
			if !ready.Load() {
				return errors.New("the supervision tree is still starting")
			}
			if err := ProbeWritable(dir); err != nil {
				return fmt.Errorf("intents directory not writable: %w", err)
			}
			return nil
		}}
	hist := DefaultHTTPConfig().History
	hist.Path = filepath.Join(t.TempDir(), "history.jsonl")
	pid := s.Root.Spawn(actor.PropsFromProducer(NewHTTP(ActorConfig{Options: o, History: &hist,
		OnListen: func(a string) { addr <- a }}, deps)))
	t.Cleanup(func() { s.Root.StopFuture(pid).Wait() })
	base := "http://" + <-addr

	code, _ := get(t, base+"/healthz")
	require.Equal(t, 200, code)
	code, body := get(t, base+"/readyz")
	require.Equal(t, 503, code, "not ready before the tree has started")
	require.Contains(t, body, "still starting")
	ready.Store(true)
	code, body = get(t, base+"/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "chembus not connected yet")
	deps.Stream.Publish(&messages.SourceObserved{At: time.Now(), Source: "chembus", Target: "tcp://127.0.0.1:5559", Healthy: false, Detail: "connection refused"})
	require.Eventually(t, func() bool { _, b := get(t, base+"/readyz"); return strings.Contains(b, "connection refused") }, 5*time.Second, 10*time.Millisecond)
	deps.Stream.Publish(&messages.SourceObserved{At: time.Now(), Source: "chembus", Target: "tcp://127.0.0.1:5559", Healthy: true, Detail: "subscribed"})
	require.Eventually(t, func() bool { c, _ := get(t, base+"/readyz"); return c == 200 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("a file, not a directory"), 0o600))
	code, body = get(t, base+"/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "intents directory not writable")

	code, body = get(t, base+"/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, `kloros_observer_events_total{source="inotify",type="promotion_new"} 3`)
	require.Contains(t, body, `kloros_observer_http_listen_failures_total 0`)
	check := exec.Command("/usr/bin/promtool", "check", "metrics")
	check.Stdin = strings.NewReader(body)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "promtool reports no problems")
}
