package edge

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
)

// errTunnelGone is returned when a tunnel disappeared between routing a
// request and dialing the agent.
var errTunnelGone = proto.Errorf(proto.CodeTunnelNotFound, "the tunnel went offline")

// transportSuffix marks the synthetic host names the proxy transport uses
// to key its connection pool by tunnel.
const transportSuffix = ".tunnel.edgeway.internal"

func (s *Server) setupHTTP() {
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:  &tunnelTransport{s: s},
		BufferPool: bufferPool{},
		ErrorLog:   slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ModifyResponse: func(resp *http.Response) error {
			s.m.httpRequest(resp.StatusCode)
			return nil
		},
		ErrorHandler: s.proxyError,
	}
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.httpsSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.opsSrv = &http.Server{
		Handler:           s.opsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// ServeHTTP routes a public request by its Host header to the agent
// serving that host.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	s.mu.RLock()
	ep := s.endpoints[httpKey(host)]
	var t *tunnel
	if ep != nil {
		t = ep.pick()
	}
	s.mu.RUnlock()
	if t == nil {
		s.m.httpRequest(http.StatusNotFound)
		s.errorPage(w, r, http.StatusNotFound, proto.CodeTunnelNotFound,
			"Tunnel "+host+" not found",
			fmt.Sprintf("No agent is serving %s in region %s (%s). Start one with: agent http 8080", host, s.cfg.Region, s.cfg.Region.Name()))
		return
	}
	if s.ipPolicies.Load() != nil {
		ip := remoteIP(r.RemoteAddr)
		decision, blocked := s.ipCheck(t.sess.grant.AccountID, ip, host)
		if blocked {
			s.ipBlockedPage(w, r, host, ip)
			return
		}
		if decision != "" {
			r = r.WithContext(context.WithValue(r.Context(), ipDecisionKey{}, ipDecisionValues[decision]))
		}
	}
	r.URL.Scheme = "http"
	r.URL.Host = t.key
	s.proxy.ServeHTTP(w, r)
}

func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	host := hostOnly(r.Host)
	if r.Context().Err() != nil {
		// The visitor went away; nobody is left to read a page.
		return
	}
	s.m.httpRequest(http.StatusBadGateway)
	switch proto.CodeOf(err) {
	case proto.CodeUpstreamUnreachable:
		forwards := ""
		if t := s.tunnelByKey(hostOnly(r.URL.Host)); t != nil && t.forwardsTo != "" {
			forwards = " at " + t.forwardsTo
		}
		s.errorPage(w, r, http.StatusBadGateway, proto.CodeUpstreamUnreachable,
			"Tunnel "+host+" is online, but its local service is not responding",
			"The agent for "+host+" could not reach the local service"+forwards+". Make sure it is running.")
	case proto.CodeTunnelNotFound:
		s.errorPage(w, r, http.StatusBadGateway, proto.CodeTunnelNotFound,
			"Tunnel "+host+" went offline",
			"The agent serving "+host+" disconnected while the request was in flight.")
	default:
		s.log.Debug("proxy request failed", slog.String("host", host), slog.Any("err", err))
		s.errorPage(w, r, http.StatusBadGateway, "ERR_BAD_GATEWAY",
			"Tunnel "+host+" failed to answer",
			"The request to "+host+" could not be completed through its agent.")
	}
}

// errorPage writes a small HTML page (or plain text for clients that do
// not accept HTML) naming the problem and its stable code.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, code, title, detail string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Edgeway-Error-Code", code)
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "%s\n%s\n%s\n", title, detail, code)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%d %s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2rem}small{color:#777}</style>
</head><body>
<h1>%s</h1>
<p>%s</p>
<p><small>%d &middot; <code>%s</code> &middot; Edgeway edge %s</small></p>
</body></html>
`, status, html.EscapeString(http.StatusText(status)), html.EscapeString(title), html.EscapeString(detail), status, code, s.cfg.Region)
}

func (s *Server) tunnelByKey(key string) *tunnel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byKey[key]
}

// hostOnly returns host without its port, lower-cased.
func hostOnly(hostport string) string {
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		host = hostport[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// bufferPool adapts the shared copy buffers to httputil.BufferPool.
type bufferPool struct{}

var httpBufs = sync.Pool{New: func() any { return make([]byte, 32<<10) }}

func (bufferPool) Get() []byte  { return httpBufs.Get().([]byte) }
func (bufferPool) Put(b []byte) { httpBufs.Put(b) } //nolint:staticcheck // fixed-size slices
