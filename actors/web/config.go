package web

import (
	"net"
	"os"
	"time"

	"github.com/kloros/kloros-observer/actors/config"
	"github.com/kloros/kloros-observer/actors/heartbeat/history"
)

// HTTPConfig is the http section of the daemon's configuration: the web
// component's own settings.
type HTTPConfig struct {
	Enabled bool `yaml:"enabled"`
	// Listen is host:port (default 127.0.0.1:9464: loopback).
	Listen string `yaml:"listen"`
	// WebConfigFile is a Prometheus exporter-toolkit web configuration
	// (TLS, basic auth): --web.config.file. Writes on a non-loopback address
	// need one that sets both.
	WebConfigFile string `yaml:"web_config_file"`
	// EventRing and IntentRing bound the recent events and intents kept.
	EventRing  int `yaml:"event_ring"`
	IntentRing int `yaml:"intent_ring"`
	// StreamBuffer is each live-stream client's buffer (drops are counted by
	// the stream as subscriber "sse").
	StreamBuffer int `yaml:"stream_buffer"`
	// MaxSSEClients bounds concurrent live-stream clients.
	MaxSSEClients int `yaml:"max_sse_clients"`
	// RetryMin and RetryMax bound the backoff between listen attempts when
	// the address is taken.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// History is the availability history's retention and size bound (its
	// file is <state_dir>/heartbeat/history.jsonl).
	History history.Config `yaml:"history"`
}

// DefaultHTTPConfig serves on loopback.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{Enabled: true, Listen: "127.0.0.1:9464", EventRing: 1000, IntentRing: 500, StreamBuffer: 1024,
		MaxSSEClients: 64, RetryMin: time.Second, RetryMax: time.Minute, History: history.DefaultConfig()}
}

// Validate checks the section.
func (c *HTTPConfig) Validate(v *config.Checker) {
	if !c.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		v.Bad("listen", c.Listen, "must be host:port such as 127.0.0.1:9464")
	}
	if c.WebConfigFile != "" {
		if _, err := os.Stat(c.WebConfigFile); err != nil {
			v.Bad("web_config_file", c.WebConfigFile, err.Error())
		} else if _, err := requiresTLSAndAuth(c.WebConfigFile); err != nil {
			v.Bad("web_config_file", c.WebConfigFile, "not a web configuration: "+err.Error())
		}
	}
	for _, f := range []struct {
		name   string
		n, max int
	}{{"event_ring", c.EventRing, 100000}, {"intent_ring", c.IntentRing, 100000},
		{"stream_buffer", c.StreamBuffer, 1 << 20}, {"max_sse_clients", c.MaxSSEClients, 10000}} {
		if f.n < 1 || f.n > f.max {
			v.Bad(f.name, f.n, "must be from 1 to "+itoa(f.max))
		}
	}
	v.Positive("retry_min", c.RetryMin)
	if c.RetryMax < c.RetryMin {
		v.Bad("retry_max", c.RetryMax, "must be >= http.retry_min")
	}
	c.History.Validate(v.At("history"))
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}
