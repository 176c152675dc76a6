package web

import (
	"fmt"
	"net"
	"time"
)

// Config is the web component's section (`http:` in the daemon's YAML).
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Listen is host:port (default 127.0.0.1:9464: loopback).
	Listen string `yaml:"listen"`
	// WebConfigFile is a Prometheus exporter-toolkit web configuration
	// (TLS, basic auth). Required for writes on a non-loopback address.
	WebConfigFile string `yaml:"web_config_file"`
	// EventRing and IntentRing bound the recent events and intents kept.
	EventRing  int `yaml:"event_ring"`
	IntentRing int `yaml:"intent_ring"`
	// StreamBuffer is each SSE client's buffer (drops are counted by the
	// stream as subscriber "sse").
	StreamBuffer int `yaml:"stream_buffer"`
	// MaxSSEClients bounds concurrent live-stream clients.
	MaxSSEClients int `yaml:"max_sse_clients"`
	// RetryMin and RetryMax bound the backoff between listen attempts.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, Listen: "127.0.0.1:9464", EventRing: 1000, IntentRing: 500, StreamBuffer: 1024,
		MaxSSEClients: 64, RetryMin: time.Second, RetryMax: time.Minute}
}

// Validate checks the section.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("http.listen = %q: %v", c.Listen, err)
	}
	for _, f := range []struct {
		name   string
		v, max int
	}{{"http.event_ring", c.EventRing, 100000}, {"http.intent_ring", c.IntentRing, 100000},
		{"http.stream_buffer", c.StreamBuffer, 1 << 20}, {"http.max_sse_clients", c.MaxSSEClients, 10000}} {
		if f.v < 1 || f.v > f.max {
			return fmt.Errorf("%s = %d: must be between 1 and %d", f.name, f.v, f.max)
		}
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return fmt.Errorf("http.retry_min = %s, http.retry_max = %s: need 0 < retry_min <= retry_max", c.RetryMin, c.RetryMax)
	}
	return nil
}
