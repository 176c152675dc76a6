// Package scrape is the Prometheus scrape source: one Source (New) per
// endpoint scrapes it every interval in a goroutine it owns (text format or
// OpenMetrics, bounded by timeout and body size), evaluates its Checks
// (threshold crossings, SPEC §2.1 metrics row) and sends *messages.Event to
// the dispatcher. Releases its timer and any scrape in flight on Stopping
// and Restarting.
package scrape
