// Package web is the daemon's HTTP side: HTTPServer (NewHTTPServer) serves
// /metrics, /healthz and /readyz from a listener goroutine it owns, released
// on Stopping and Restarting.
package web
