// Package web is the operator's view: the daemon's HTTP surface.
//
//   - /metrics, /healthz, /readyz (ready once the tree has started, the
//     intents directory is writable and, with ChemBus enabled, the bus is
//     reachable);
//   - the query API under /api/v1/ (zooids with state, silence and
//     availability; one zooid's episodes and status-page bars; recent events
//     with their dedup verdict; recent intents; the pending intent files and
//     whether each verifies; rules; sources' health; the supervision tree;
//     the last hour's rates; silences), and POST /-/reload;
//   - /api/v1/stream: the observation stream as Server-Sent Events,
//     filterable by kind and type (what `kloros-observer tap` prints);
//   - the web page at / (ui/, embedded with go:embed: hand-written HTML, CSS
//     and JS, no CDN, no build step), which updates from that stream.
//
// What it reads of the rest of the daemon goes through small interfaces
// (query.go: Zooids, Rules, Sources, Tree) so the daemon's wiring writes one
// adapter per subsystem, and tests hand in real components. Silences
// (actors/heartbeat/silence) and the availability history
// (actors/heartbeat/history) are shared with the heartbeat registry, which
// enforces the silences; this package only serves them.
//
// Actors and goroutines:
//
//   - HTTP (actor.go) receives only lifecycle messages and *GoroutineFailed.
//     On Started it starts the Feed and one listener goroutine; on Stopping
//     and Restarting it shuts the server down (bounded), waits for the
//     goroutine, and stops the Feed. A listen failure (port in use) does not
//     fail the actor: the goroutine retries with capped backoff, logs once per
//     address and failure streak, and counts each attempt
//     (kloros_observer_http_listen_failures_total); the rest of the daemon runs on.
//   - Feed (feed.go) is the page's subscriber of the observation stream, subscribed when
//     the tree is built (so it sees every source's first health report): one goroutine
//     (Start to Stop) that takes gaps and zooid sightings as they come (subscription
//     "web_history": they go to the availability history, one fsync per burst) and drains
//     everything else every 100 ms (subscription "web": bounded rings of recent events
//     and intents, each source's last health, per-rule and per-actor observations,
//     per-second rates for an hour). A flood overflows "web", counted, never "web_history".
//   - The live stream (sse.go): one hub subscription ("sse") shared by every client while
//     any is connected, drained every 100 ms by the hub's goroutine and handed to each
//     client bounded; each client filters, samples (?limit= per ?interval=, like vector
//     tap) and encodes on its own request goroutine. A slow client loses observations
//     (counted and told), never slows the daemon; ten clients cost the pipeline one
//     channel offer per observation.
//
// Security: the server listens on loopback by default, where reading is open
// and writes (silences, forget, reload) need a loopback Host and a
// same-origin request (security.go). On any other address, writes need a
// Prometheus exporter-toolkit web config (--web.config.file) with TLS and
// basic auth; exporter-toolkit enforces it on every request. Inputs are
// bounded and checked (unknown query parameters are a 400 naming them; a
// silence pattern that does not compile is a 400 naming "pattern"); pending
// intent files are opened with os.OpenInRoot under the intents directory,
// by a name that must parse as an intent file name, so no request reads
// anything else; the only files written are the silences and the history,
// at paths fixed by the configuration.
package web
