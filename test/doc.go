// Package test holds the whole-daemon tests: they start the built binaries
// (bin/kloros-observer, bin/intentctl, bin/chembus) against real peers. This
// file only documents them.
//
// Real components throughout: real files and fsync; inotify on temp dirs;
// ZeroMQ on loopback ephemeral ports through a real XSUB/XPUB proxy (the
// ZMTP reader is tested against real libzmq XPUB and PUB sockets:
// handshake, heartbeats, refused peers, oversize frames, ipc://); a private
// dbus-daemon (Debian dbus) with a stand-in systemd for the audit;
// systemd-journal-remote for journals written from export format;
// /usr/bin/python3 with python3-zmq as a ChemBus peer and as the intent
// verifier.
//
// Among them: three promotion files → one verified intent; a watch dir
// created after start; a Python peer's zooid stopping → exactly one gap
// within threshold ± 0.25 s; kill -9 and restart → one gap for the zooid
// that died meanwhile, no repeat; SIGSTOP for twice the threshold → no gap;
// the colony-parity corpus written as a journal and replayed through the
// daemon (parity_test.go); rule reloads (rules_reload_test.go); the
// operator CLI and a taken HTTP port (operator_test.go); the shipped sample
// config covering every key (deploy_test.go).
//
// The page is tested in a real headless Chromium (Debian chromium, driven
// with chromedp; a missing browser fails the test saying apt-get install
// chromium): against real heartbeats through a real proxy, twelve zooids
// show green; one that stops turns red within threshold + 2 s without a
// reload; a silence set with `kloros-observer silence add` shows as
// silenced and no CAPABILITY_GAP goes out for it; a promotion file dropped
// in a watched directory is in the live feed within 1 s; the page's console
// errors fail the test, and screenshots are saved under a temp dir
// (KLOROS_SCREENSHOTS=DIR keeps them; the README's come from there). With
// 10,000 zooids the first page of tiles draws in about 1.5 s and a search
// narrows the grid to one zooid in about 0.15 s (actors/web page test).
//
// make test runs go vet and every test, then the actor and supervision
// packages again under the race detector; about 2.5 minutes on the 2-core
// VM. A test that needs a missing tool fails saying how to install it.
// Fuzz targets: go test ./actors/intentfile -fuzz FuzzEncodeVerify,
// go test ./actors/chembus -fuzz FuzzScanPayload,
// go test ./actors/chembus/zmtp -fuzz FuzzParser (or FuzzHandshake).
package test
