package scrape

import (
	"fmt"
	"net/url"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/kloros/kloros-observer/actors/config"
)

// Config is the scrape section of the daemon's configuration.
type Config struct {
	Enabled   bool          `yaml:"enabled"`
	Endpoints []string      `yaml:"endpoints"`
	Interval  time.Duration `yaml:"interval"`
	// Timeout bounds one scrape; unset (0), it is ¾ of Interval, at most
	// 10 s. It must be shorter than Interval.
	Timeout      time.Duration `yaml:"timeout"`
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
	// FallbackProtocol is how a body whose Content-Type is missing or not a
	// Prometheus format is read: "text" (the Prometheus text format, as
	// Prometheus 2 did) or "none" (refused, counted as content_type).
	FallbackProtocol string `yaml:"fallback_protocol"`
}

// The values of FallbackProtocol.
const (
	FallbackText = "text"
	FallbackNone = "none"
)

// SourceConfig is what one scrape source runs with: the section, and the
// endpoint and checks the tree gives it.
type SourceConfig struct {
	Config
	Endpoint   string
	Index      int // position in the configuration: the metrics label
	Checks     []Check
	Dispatcher *actor.PID
}

// DefaultConfig is the scrape section when nothing is set.
func DefaultConfig() Config {
	return Config{Enabled: true, Endpoints: []string{"http://localhost:9090/metrics"},
		Interval: 30 * time.Second, MaxBodyBytes: 16 << 20, FallbackProtocol: FallbackText}
}

// Resolve derives the timeout when none is set.
func (c *Config) Resolve() {
	if c.Timeout == 0 && c.Interval > 0 {
		c.Timeout = DefaultScrapeTimeout(c.Interval)
	}
}

// Validate checks the section.
func (c *Config) Validate(v *config.Checker) {
	for i, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.Bad(fmt.Sprintf("endpoints[%d]", i), e, "must be an http(s) URL such as http://localhost:9090/metrics")
		}
	}
	v.Positive("interval", c.Interval)
	if c.Timeout < 0 {
		v.Bad("timeout", c.Timeout, "must be positive, or unset for ¾ of scrape.interval (at most 10s)")
	}
	if c.Timeout >= c.Interval && c.Interval > 0 {
		v.Bad("timeout", c.Timeout, fmt.Sprintf("must be shorter than scrape.interval (%s)", c.Interval))
	}
	if c.MaxBodyBytes < 1024 {
		v.Bad("max_body_bytes", c.MaxBodyBytes, "must be >= 1024")
	}
	v.OneOf("fallback_protocol", c.FallbackProtocol, FallbackText, FallbackNone)
}

// ValidateChecks checks the top-level checks list against the scrape
// interval. v is the checker for "checks"; scrapeV the one for "scrape".
func ValidateChecks(v, scrapeV *config.Checker, checks []Check, scrapeEnabled bool, interval time.Duration) {
	firstNamed := map[string]int{}
	for i, ch := range checks {
		f := fmt.Sprintf("[%d]", i)
		at := func(field string) string { return f + "." + field }
		if ch.Name == "" {
			v.Bad(at("name"), "", "must not be empty")
		} else if j, dup := firstNamed[ch.Name]; dup {
			// Names key the checker's state and the firing metric: two checks
			// sharing one would overwrite each other's.
			v.Bad(at("name"), ch.Name, fmt.Sprintf("must be unique: checks[%d] has the same name", j))
		} else {
			firstNamed[ch.Name] = i
		}
		if ch.Metric == "" {
			v.Bad(at("metric"), "", "must name a metric")
		}
		if ch.EventType == "" {
			v.Bad(at("event_type"), "", "must name the event type to emit")
		}
		v.OneOf(at("op"), ch.Op, ">", ">=", "<", "<=", "==", "!=")
		switch ch.Mode {
		case "", "gauge":
		case "increase":
			v.Positive(at("window"), ch.Window)
			// An increase needs two samples inside the window; with scrape
			// jitter that takes a window of at least two intervals.
			if ch.Window > 0 && interval > 0 && ch.Window < 2*interval {
				v.Bad(at("window"), ch.Window, fmt.Sprintf("must be at least 2 × scrape.interval (%s) = %s: an increase needs two samples inside the window",
					interval, 2*interval))
			}
		default:
			v.Bad(at("mode"), ch.Mode, "must be gauge or increase")
		}
		if ch.Invert && ch.Ratio == "" {
			v.Bad(at("invert"), true, "needs ratio")
		}
	}
	if checks == nil && scrapeEnabled && interval > 0 {
		for _, ch := range DefaultChecks() {
			if ch.Mode == "increase" && ch.Window < 2*interval {
				scrapeV.Bad("interval", interval, fmt.Sprintf("must be at most half the window (%s) of the default check %s, or set checks: with a longer window",
					ch.Window, ch.Name))
			}
		}
	}
}

// NormalizeChecks fills what a check leaves unset (mode gauge).
func NormalizeChecks(checks []Check) []Check {
	out := make([]Check, len(checks))
	for i, ch := range checks {
		if ch.Mode == "" {
			ch.Mode = "gauge"
		}
		out[i] = ch
	}
	return out
}
