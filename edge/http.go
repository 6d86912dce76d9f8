package edge

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
)

// errTunnelGone is returned when a tunnel disappeared between routing a
// request and dialing the agent.
var errTunnelGone = proto.Errorf(proto.CodeTunnelNotFound, "the tunnel went offline")

func (s *Server) setupHTTP() {
	s.opsSrv = &http.Server{
		Handler:           s.opsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// errorPage renders a small HTML page (or plain text for clients that
// do not accept HTML) naming the problem and its stable code.
func (s *Server) errorPage(accept string, status int, code, title, detail string) (contentType, body string) {
	if !strings.Contains(accept, "text/html") {
		return "text/plain; charset=utf-8", title + "\n" + detail + "\n" + code + "\n"
	}
	return "text/html; charset=utf-8", fmt.Sprintf(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%d %s</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2rem}small{color:#777}</style>
</head><body>
<h1>%s</h1>
<p>%s</p>
<p><small>%d &middot; <code>%s</code> &middot; Edgeway edge %s</small></p>
</body></html>
`, status, html.EscapeString(http.StatusText(status)), html.EscapeString(title), html.EscapeString(detail), status, code, s.cfg.Region)
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

// httpBufs are the response body copy buffers.
var httpBufs = sync.Pool{New: func() any { return make([]byte, 32<<10) }}
