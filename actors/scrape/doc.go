// Package scrape is the Prometheus scrape source: one Source (New) per
// endpoint scrapes it every interval in a goroutine it owns (text format or
// OpenMetrics, bounded by timeout and body size), evaluates its Checks
// (threshold crossings, SPEC §2.1 metrics row) and sends *messages.Event to
// the dispatcher. Releases its timer and any scrape in flight on Stopping
// and Restarting.
//
// Details. The timeout is shorter than the
// interval (scrape.timeout; unset, ¾ of the interval, at most 10 s, so
// --metrics-interval 5 alone gets 3.75 s and a hanging endpoint is cut off
// before the next tick). The source asks for the Prometheus text format first
// and OpenMetrics 1.0 second (Accept:
// text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5),
// parsed with prometheus/common/expfmt (labels, histograms and summaries — as
// _sum/_count — included). expfmt has no OpenMetrics parser (it reads
// OpenMetrics with the text parser, which fails on exemplars and on timestamps
// in seconds), so an endpoint that answers OpenMetrics anyway is rewritten
// line by line first (openmetrics.go): exemplars and timestamps are dropped
// (checks use the scrape time), unknown, info and stateset are read as
// untyped, # UNIT is ignored, # EOF ends the body, and _created samples are
// series of their own. A body whose Content-Type is missing or unknown is
// parsed as text (fallback_protocol: text, Prometheus 3's
// fallback_scrape_protocol), said once per endpoint, or refused with none.
//
// A down, slow, oversized, garbage-returning or refused endpoint is counted by
// reason (kloros_observer_scrapes_total{endpoint,result}), logged once per
// change of state and retried next interval; scrapes never overlap (a tick
// that finds one still running is counted in …_scrapes_skipped_total). endpoint
// is the endpoint's index in the configuration (scrape:0 in the tree);
// …_scrape_up and …_scrape_duration_seconds go with it, and
// kloros_observer_check_firing_series{endpoint,check} counts the series over
// each check's threshold.
//
// Checks fire when a series crosses its threshold and not again until it went
// back under (or renotify passed) — the seed's counter check fired forever. An
// increase needs two samples inside its window, so a window shorter than
// 2 × scrape.interval is rejected at load. A series gone from a successful
// scrape is forgotten (its firing state and increase history), so churning
// label sets do not grow memory; a failed scrape forgets nothing.
package scrape
