package web

import (
	"mime"
	"net"
	"net/http"
	"net/url"
)

// maxBody bounds a write's request body.
const maxBody = 64 << 10

// write wraps a handler that changes something. It is allowed when:
//
//   - the web config file requires TLS and basic auth (exporter-toolkit has
//     already refused a request without them, on any address); or
//   - the listener is on loopback, the Host header names a loopback host
//     (DNS rebinding), and the request is same-origin: an Origin header, if
//     any, names this very host, and Sec-Fetch-Site, if any, says
//     same-origin or none (the CLI sends neither).
//
// Otherwise 403, saying what would allow it. A body must be JSON
// (Content-Type application/json: a cross-site form cannot send it without
// a CORS preflight, which this server never grants) and at most 64 KiB.
func (s *Server) write(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if why := s.allowWrite(r); why != "" {
			fail(w, http.StatusForbidden, "", why)
			return
		}
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/json" {
				fail(w, http.StatusUnsupportedMediaType, "", "a request body must be application/json")
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, r)
	}
}

func (s *Server) allowWrite(r *http.Request) string {
	if s.authWrites {
		return ""
	}
	if !s.loopback.Load() {
		return "writes on a non-loopback address need --web.config.file with TLS and basic_auth_users"
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !IsLoopback(net.JoinHostPort(host, "0")) {
		return "writes need a loopback Host (got " + r.Host + ")"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return "cross-origin write refused (Origin " + o + ")"
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "cross-site write refused (Sec-Fetch-Site " + r.Header.Get("Sec-Fetch-Site") + ")"
	}
	return ""
}

// who names the writer: the basic-auth user, or "loopback".
func who(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	return "loopback"
}
