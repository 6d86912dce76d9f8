package edge

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/edgeway/edgeway/internal/proto"
)

// The public HTTP/1.1 front end. Each visitor connection is served by one
// goroutine: it parses a request head (net/http's parser), routes it by
// Host, rewrites it (X-Forwarded-*, hop-by-hop headers) and writes it to a
// pooled proxy stream of the tunnel's agent, then reads the response head
// and relays the body. Compared with net/http's Server and ReverseProxy
// this saves the per-request background-read goroutine, the response
// writer machinery and most allocations: the added latency of an HTTP
// tunnel comes close to that of a TCP one.

const (
	// headerTimeout bounds reading a request head (and a TLS handshake).
	headerTimeout = 30 * time.Second
	// visitorIdleTimeout closes kept-alive visitor connections idle for
	// longer.
	visitorIdleTimeout = 5 * time.Minute
	// maxHeaderBytes bounds a request head, as net/http's default.
	maxHeaderBytes = 1 << 20
	// maxDiscard is how much of an unread request body is read and thrown
	// away to keep the connection after an early answer (net/http's
	// figure).
	maxDiscard = 256 << 10
	// watchAfter is how long a request waits for its response before the
	// visitor's connection is watched for a hang-up (which then cancels
	// the request). Quick responses never pay for the watch.
	watchAfter = 50 * time.Millisecond
)

// frontConns tracks visitor connections, for draining, and the requests
// waiting for their answer, for the hang-up watch.
type frontConns struct {
	mu       sync.Mutex
	conns    map[*frontConn]bool // true: idle, between requests
	draining bool
	wg       sync.WaitGroup // accept loops and connections

	watchMu  sync.Mutex
	watches  map[*hangupWatch]struct{}
	sweeping bool
	stopped  chan struct{} // closed by closeAll: the sweeper ends
}

func (f *frontConns) init() {
	f.conns = make(map[*frontConn]bool)
	f.watches = make(map[*hangupWatch]struct{})
	f.stopped = make(chan struct{})
}

// watch registers a request waiting for its answer. One sweeper
// goroutine (running only while requests wait) starts the hang-up watch
// of those waiting longer than watchAfter: a timer per request would wake
// the network poller for every request.
func (f *frontConns) watch(w *hangupWatch) {
	f.watchMu.Lock()
	f.watches[w] = struct{}{}
	start := !f.sweeping
	f.sweeping = true
	f.watchMu.Unlock()
	if start {
		f.wg.Add(1)
		go f.sweep()
	}
}

func (f *frontConns) unwatch(w *hangupWatch) {
	f.watchMu.Lock()
	delete(f.watches, w)
	f.watchMu.Unlock()
}

func (f *frontConns) sweep() {
	defer f.wg.Done()
	idle := 0
	tick := time.NewTicker(watchAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-f.stopped:
			f.watchMu.Lock()
			f.sweeping = false
			f.watchMu.Unlock()
			return
		}
		now := time.Now()
		f.watchMu.Lock()
		if len(f.watches) == 0 {
			// Stop after a second without waiting requests.
			if idle++; idle >= int(time.Second/(watchAfter/2)) {
				f.sweeping = false
				f.watchMu.Unlock()
				return
			}
		} else {
			idle = 0
		}
		for w := range f.watches {
			if now.Sub(w.since) >= watchAfter {
				delete(f.watches, w)
				w.start()
			}
		}
		f.watchMu.Unlock()
	}
}

// add registers fc; it fails once draining started.
func (f *frontConns) add(fc *frontConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return false
	}
	f.conns[fc] = false
	f.wg.Add(1)
	return true
}

func (f *frontConns) remove(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
	f.wg.Done()
}

// setIdle marks fc idle or busy; it reports false when fc should close
// (draining, or closed by the drain while idle).
func (f *frontConns) setIdle(fc *frontConn, idle bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[fc]; !ok || f.draining {
		return false
	}
	f.conns[fc] = idle
	return true
}

// upgraded stops tracking fc as a request in progress: like a hijacked
// connection, an upgraded one (WebSocket) ends with its agent session.
func (f *frontConns) upgraded(fc *frontConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
}

func (f *frontConns) isDraining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}

// startDrain refuses new requests and closes idle connections.
func (f *frontConns) startDrain() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.draining = true
	for fc, idle := range f.conns {
		if idle {
			delete(f.conns, fc)
			_ = fc.c.Close()
		}
	}
}

// busy counts connections with a request in progress.
func (f *frontConns) busy() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// closeAll closes every tracked connection (the drain timed out) and
// stops the sweeper.
func (f *frontConns) closeAll() {
	select {
	case <-f.stopped:
	default:
		close(f.stopped)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		_ = fc.c.Close()
	}
}

// acceptVisitors serves the public HTTP (or HTTPS) listener ln until it
// is closed.
func (s *Server) acceptVisitors(ln net.Listener, https bool) {
	defer s.front.wg.Done()
	for {
		c, err := s.accept(ln, "visitor")
		if err != nil {
			return
		}
		fc := newFrontConn(s, c, https)
		if !s.front.add(fc) {
			_ = c.Close()
			fc.release()
			continue
		}
		go fc.serve()
	}
}

// frontConn is one visitor connection.
type frontConn struct {
	s      *Server
	c      net.Conn
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	https  bool
	remote string
	// deadline is the read deadline set on c (see armDeadline).
	deadline time.Time
	// linger: the last answer left input unread; close gently so that
	// the visitor can read the answer (lingeringClose).
	linger bool

	wmu       sync.Mutex // the response head, and a 100 Continue from the body writer
	responded bool

	relayInterim func(*http.Response) // relayInterimResponse, bound once
}

var (
	frontReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	frontWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newFrontConn(s *Server, c net.Conn, https bool) *frontConn {
	fc := &frontConn{s: s, c: c, https: https, remote: c.RemoteAddr().String()}
	fc.relayInterim = fc.relayInterimResponse
	fc.cr.c = c
	fc.cr.remain = -1
	fc.br = frontReaders.Get().(*bufio.Reader)
	fc.br.Reset(&fc.cr)
	fc.bw = frontWriters.Get().(*bufio.Writer)
	fc.bw.Reset(c)
	return fc
}

func (fc *frontConn) release() {
	fc.br.Reset(nil)
	frontReaders.Put(fc.br)
	fc.bw.Reset(nil)
	frontWriters.Put(fc.bw)
}

// connReader reads the visitor connection for the bufio.Reader: it can
// limit a request head's size, and returns first the byte a hang-up
// watch read.
type connReader struct {
	c       net.Conn
	remain  int64 // bytes left for the request head; -1: no limit
	hitMax  bool
	mu      sync.Mutex
	peeked  []byte // read by the watch, not yet consumed
	peekBuf [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if len(r.peeked) > 0 {
		n := copy(p, r.peeked)
		r.peeked = r.peeked[n:]
		r.mu.Unlock()
		return n, nil
	}
	r.mu.Unlock()
	if r.remain == 0 {
		r.hitMax = true
		return 0, io.EOF
	}
	if r.remain > 0 && int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.c.Read(p)
	if r.remain > 0 {
		r.remain -= int64(n)
	}
	return n, err
}

// limit bounds the bytes read from now on (-1: no bound); hitMax tells
// whether the last bound was reached.
func (r *connReader) limit(n int64) {
	if n >= 0 {
		r.hitMax = false
	}
	r.remain = n
}

// serve reads and proxies requests until the visitor or the edge ends the
// connection.
func (fc *frontConn) serve() {
	s := fc.s
	defer func() {
		if fc.linger {
			fc.lingeringClose()
		}
		_ = fc.c.Close()
		s.front.remove(fc)
		fc.release()
	}()
	if tc, ok := fc.c.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(headerTimeout))
		if err := tc.HandshakeContext(s.baseCtx); err != nil {
			s.log.Debug("visitor tls handshake", slog.String("remote", fc.remote), slog.Any("err", err))
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	wait := headerTimeout
	for {
		if !s.front.setIdle(fc, true) {
			return
		}
		fc.armDeadline(wait)
		if _, err := fc.br.Peek(1); err != nil {
			return
		}
		if !s.front.setIdle(fc, false) {
			return
		}
		wait = visitorIdleTimeout
		if !fc.headBuffered() {
			// A head arriving in pieces gets headerTimeout to complete.
			fc.setDeadline(time.Now().Add(headerTimeout))
		}
		fc.cr.limit(maxHeaderBytes + 4096)
		req, err := http.ReadRequest(fc.br)
		fc.cr.limit(-1)
		if err != nil {
			fc.badRequest(err)
			return
		}
		if !fc.serveRequest(req) {
			return
		}
	}
}

// Read deadlines are set lazily: changing one re-arms a runtime timer,
// which wakes the network poller; doing it several times per request
// showed as a third of the edge's added tail latency. So the deadline of a
// kept-alive connection moves at most about once a minute, and a request
// head that arrives whole (the usual case) sets none.

// armDeadline makes the read deadline between 0.8 d and d away.
func (fc *frontConn) armDeadline(d time.Duration) {
	now := time.Now()
	if fc.deadline.Before(now.Add(d-d/5)) || fc.deadline.After(now.Add(d)) {
		fc.setDeadline(now.Add(d))
	}
}

func (fc *frontConn) setDeadline(t time.Time) {
	fc.deadline = t
	_ = fc.c.SetReadDeadline(t)
}

// headBuffered reports whether a whole request head is buffered.
func (fc *frontConn) headBuffered() bool {
	b, _ := fc.br.Peek(fc.br.Buffered())
	return bytes.Contains(b, crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// badRequest answers a request head that could not be read, then the
// connection closes. A visitor that went quiet or away gets nothing.
func (fc *frontConn) badRequest(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) && !fc.cr.hitMax, errors.Is(err, io.ErrUnexpectedEOF) && !fc.cr.hitMax,
		errors.As(err, &ne) && ne.Timeout(), errors.Is(err, net.ErrClosed):
		return
	}
	status, msg := http.StatusBadRequest, "the request could not be read: "+err.Error()
	if fc.cr.hitMax {
		status, msg = http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("the request head is larger than %d bytes", maxHeaderBytes)
	}
	fc.writeSimple(status, "ERR_BAD_REQUEST", msg)
}

// lingeringClose shuts the write side, then reads and drops what the
// visitor still sends for a moment before the connection closes: closing
// with unread input makes the kernel reset the connection, and the
// visitor could lose the answer (net/http does the same).
func (fc *frontConn) lingeringClose() {
	if cw, ok := fc.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = fc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, _ = io.Copy(io.Discard, fc.c) // until the visitor stops, or the deadline
}

// writeSimple answers a request the edge refuses outright with plain
// text, then the connection closes.
func (fc *frontConn) writeSimple(status int, code, msg string) {
	fc.linger = true
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n" + msg + "\n" + code + "\n"
	fc.writeError(status, code, "text/plain; charset=utf-8", body, false, false)
}

// writeError writes an answer of the edge's own, with its stable code,
// and counts it; keep false closes the connection after it.
func (fc *frontConn) writeError(status int, code, contentType, body string, keep, head bool) bool {
	fc.s.m.httpRequest(status)
	h := http.Header{
		"Cache-Control":        {"no-store"},
		"X-Edgeway-Error-Code": {code},
		"Content-Type":         {contentType},
		"Content-Length":       {strconv.Itoa(len(body))},
		"Date":                 {time.Now().UTC().Format(http.TimeFormat)},
	}
	if !keep {
		h["Connection"] = []string{"close"}
	}
	fc.wmu.Lock()
	fc.responded = true
	fc.writeHead(strconv.Itoa(status)+" "+http.StatusText(status), h)
	fc.wmu.Unlock()
	if !head {
		_, _ = fc.bw.WriteString(body)
	}
	return fc.bw.Flush() == nil && keep
}

// serveRequest routes, checks and proxies one request; it reports whether
// the connection may carry another.
func (fc *frontConn) serveRequest(req *http.Request) bool {
	s := fc.s
	req.RemoteAddr = fc.remote
	fc.wmu.Lock()
	fc.responded = false // a new exchange on a kept-alive connection
	fc.wmu.Unlock()
	if req.ProtoMajor != 1 {
		fc.discard(req)
		fc.writeSimple(http.StatusHTTPVersionNotSupported, "ERR_BAD_REQUEST", "the edge speaks HTTP/1.1 (HTTPS offers HTTP/1.1 through ALPN)")
		return false
	}
	hosts := req.Header["Host"]
	switch {
	case len(hosts) > 1:
		fc.writeSimple(http.StatusBadRequest, "ERR_BAD_REQUEST", "the request has more than one Host header")
		return false
	case req.Host == "" || !validHost(req.Host):
		fc.writeSimple(http.StatusBadRequest, "ERR_BAD_REQUEST", "the request needs a valid Host header naming the tunnel, such as abc123.us.localhost")
		return false
	case req.Method == http.MethodConnect:
		fc.writeSimple(http.StatusMethodNotAllowed, "ERR_BAD_REQUEST", "the edge is not a forward proxy: CONNECT is not supported")
		return false
	}
	expect := req.Header["Expect"]
	if len(expect) > 0 {
		if len(expect) > 1 || !strings.EqualFold(expect[0], "100-continue") {
			fc.writeSimple(http.StatusExpectationFailed, "ERR_BAD_REQUEST", "the only expectation the edge supports is Expect: 100-continue")
			return false
		}
		delete(req.Header, "Expect")
		if req.Body != http.NoBody {
			req.Body = &continueReader{fc: fc, body: req.Body}
		}
	}
	host := hostOnly(req.Host)
	s.mu.RLock()
	ep := s.endpoints[httpKey(host)]
	var t *tunnel
	if ep != nil {
		t = ep.pick()
	}
	s.mu.RUnlock()
	if t == nil {
		return fc.writePage(req, http.StatusNotFound, proto.CodeTunnelNotFound,
			"Tunnel "+host+" not found",
			fmt.Sprintf("No agent is serving %s in region %s (%s). Start one with: agent http 8080", host, s.cfg.Region, s.cfg.Region.Name()))
	}
	var ip netip.Addr
	if s.ipPolicies.Load() != nil {
		ip = connIP(fc.c)
		if _, blocked := s.ipCheck(t.sess.grant.AccountID, ip, host); blocked {
			return fc.writePage(req, http.StatusForbidden, proto.CodeEndpointIPBlocked,
				"Access to "+host+" from "+ip.String()+" is not allowed",
				fmt.Sprintf("Your IP address %s is not allowed by the IP restriction of the account that serves %s.", ip, host))
		}
	}
	return fc.proxy(req, t, host)
}

// validHost reports whether a Host header is host[:port] with a numeric
// port.
func validHost(h string) bool {
	if !httpguts.ValidHostHeader(h) {
		return false
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		for _, c := range h[i+1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// hopHeaders are the hop-by-hop headers, which a proxy does not forward
// (RFC 9110 7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for _, sf := range strings.Split(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(sf))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType returns the protocol a request or response upgrades to, or
// "".
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// proxy sends req to tunnel t and relays the answer.
func (fc *frontConn) proxy(req *http.Request, t *tunnel, host string) bool {
	s := fc.s
	keep := !req.Close
	h := req.Header
	up := upgradeType(h)
	trailers := httpguts.HeaderValuesContainsToken(h["Te"], "trailers")
	removeHopHeaders(h)
	if up != "" {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = []string{up}
	}
	if trailers {
		h["Te"] = []string{"trailers"}
	}
	// The visitor's own X-Forwarded-* are not trusted: the edge is the
	// first proxy the agent's service hears from.
	ip, _, _ := net.SplitHostPort(fc.remote)
	h["X-Forwarded-For"] = []string{ip}
	h["X-Forwarded-Host"] = []string{req.Host}
	if fc.https {
		h["X-Forwarded-Proto"] = []string{"https"}
	} else {
		h["X-Forwarded-Proto"] = []string{"http"}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // not Go's default
	}
	req.Close = false
	var body *trackedBody
	if req.Body != http.NoBody {
		body = &trackedBody{body: req.Body, fc: fc}
		req.Body = body
	}

	// The visitor may hang up while the local service thinks: watch for
	// that once the answer is slow in coming.
	var watch *hangupWatch
	var cc *canceler
	if body == nil && fc.br.Buffered() == 0 {
		watch = &hangupWatch{fc: fc, since: time.Now()}
		cc = &watch.cc
		s.front.watch(watch)
	}
	var interim func(*http.Response)
	if req.ProtoAtLeast(1, 1) {
		interim = fc.relayInterim // HTTP/1.0 visitors get no informational responses
	}
	resp, err := t.roundTrip(req, cc, interim)
	if watch != nil {
		s.front.unwatch(watch)
		if !watch.stop() {
			// The visitor hung up.
			if resp != nil {
				_ = resp.Body.Close()
			}
			return false
		}
	}
	if err != nil {
		if body != nil && !body.finished() {
			keep = false
		}
		return fc.proxyError(req, t, host, err) && keep
	}
	return fc.writeResponse(req, resp, keep, body)
}

// relayInterimResponse relays an informational response (103 Early Hints,
// 102 Processing) to the visitor before the final one.
func (fc *frontConn) relayInterimResponse(resp *http.Response) {
	removeHopHeaders(resp.Header)
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if fc.responded {
		return
	}
	fc.writeHead(resp.Status, resp.Header)
	_ = fc.bw.Flush()
}

// writeResponse relays resp to the visitor; it reports whether the
// connection may carry another request.
func (fc *frontConn) writeResponse(req *http.Request, resp *http.Response, keep bool, body *trackedBody) bool {
	defer resp.Body.Close()
	h := resp.Header
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fc.upgrade(req, resp)
	}
	removeHopHeaders(h)
	bodyless := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode < 200
	chunked := false
	if fc.s.front.isDraining() {
		keep = false
	}
	if !bodyless {
		switch {
		case resp.ContentLength >= 0:
			h["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
		case req.ProtoAtLeast(1, 1):
			chunked = true
			h["Transfer-Encoding"] = []string{"chunked"}
		default:
			keep = false // an HTTP/1.0 visitor: the body ends with the connection
		}
	}
	var trailerKeys []string
	if chunked && len(resp.Trailer) > 0 {
		for k := range resp.Trailer {
			trailerKeys = append(trailerKeys, k)
		}
		h["Trailer"] = []string{strings.Join(trailerKeys, ", ")}
	}
	if keep && body != nil && !body.finished() {
		// The local service answered before reading the whole request
		// body: the visitor's next request cannot be found after it.
		keep = false
		fc.linger = true
	}
	if !keep {
		h["Connection"] = []string{"close"}
	} else if !req.ProtoAtLeast(1, 1) {
		h["Connection"] = []string{"keep-alive"}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
	}
	fc.wmu.Lock()
	fc.responded = true
	fc.writeHead(resp.Status, h)
	fc.wmu.Unlock()
	fc.s.m.httpRequest(resp.StatusCode)
	if bodyless {
		return fc.bw.Flush() == nil && keep
	}
	if err := fc.copyBody(resp, chunked); err != nil {
		return false
	}
	if chunked {
		_, _ = fc.bw.WriteString("0\r\n")
		if len(resp.Trailer) > 0 {
			_ = resp.Trailer.Write(fc.bw)
		}
		_, _ = fc.bw.WriteString("\r\n")
	}
	if err := fc.bw.Flush(); err != nil {
		return false
	}
	if body != nil && !body.finished() {
		body.abortRead()
		return false
	}
	return keep
}

func (fc *frontConn) writeHead(status string, h http.Header) {
	_, _ = fc.bw.WriteString("HTTP/1.1 ")
	_, _ = fc.bw.WriteString(status)
	_, _ = fc.bw.WriteString("\r\n")
	_ = h.Write(fc.bw)
	_, _ = fc.bw.WriteString("\r\n")
}

// copyBody relays the response body, flushing whenever the agent has
// nothing more buffered, so streamed responses (server-sent events,
// long polls) reach the visitor as they are produced.
func (fc *frontConn) copyBody(resp *http.Response, chunked bool) error {
	bp := httpBufs.Get().([]byte)
	defer httpBufs.Put(bp) //nolint:staticcheck // fixed-size slices
	pb, _ := resp.Body.(*pooledBody)
	var hexLen [20]byte
	for {
		n, rerr := resp.Body.Read(bp)
		if n > 0 {
			if chunked {
				_, _ = fc.bw.Write(strconv.AppendInt(hexLen[:0], int64(n), 16))
				_, _ = fc.bw.WriteString("\r\n")
			}
			if _, err := fc.bw.Write(bp[:n]); err != nil {
				return err
			}
			if chunked {
				_, _ = fc.bw.WriteString("\r\n")
			}
			if rerr == nil && (pb == nil || !pb.more()) {
				if err := fc.bw.Flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			// The agent or the local service broke off mid-body: the
			// visitor sees the connection end early.
			_ = fc.bw.Flush()
			return rerr
		}
	}
}

// upgrade relays a 101 Switching Protocols answer, then joins the visitor
// and the agent's stream until either ends.
func (fc *frontConn) upgrade(req *http.Request, resp *http.Response) bool {
	reqUp, respUp := upgradeType(req.Header), upgradeType(resp.Header)
	ub, ok := resp.Body.(*bufferedConn)
	if !ok || reqUp == "" || !strings.EqualFold(reqUp, respUp) {
		fc.writePage(req, http.StatusBadGateway, "ERR_BAD_GATEWAY", "Tunnel "+hostOnly(req.Host)+" switched to an unexpected protocol",
			fmt.Sprintf("The local service answered 101 Switching Protocols to %q with %q.", reqUp, respUp))
		return false
	}
	h := resp.Header
	removeHopHeaders(h)
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{respUp}
	fc.wmu.Lock()
	fc.responded = true
	fc.writeHead(resp.Status, h)
	fc.wmu.Unlock()
	fc.s.m.httpRequest(resp.StatusCode)
	if err := fc.bw.Flush(); err != nil {
		return false
	}
	fc.s.front.upgraded(fc)
	fc.setDeadline(time.Time{})
	// Plain connections when nothing is buffered, so that proto.Join
	// takes its fast paths.
	var visitor net.Conn = fc.c
	if fc.br.Buffered() > 0 {
		visitor = &bufferedConn{Conn: fc.c, br: fc.br}
	}
	var agentSide net.Conn = ub.Conn
	if ub.br.Buffered() > 0 {
		agentSide = ub
	}
	proto.Join(visitor, agentSide)
	return false
}

// writePage answers with an error page; the connection is kept when the
// request body (if any) could be read to its end.
func (fc *frontConn) writePage(req *http.Request, status int, code, title, detail string) bool {
	keep := !req.Close && fc.discard(req) && !fc.s.front.isDraining()
	contentType, body := fc.s.errorPage(req.Header.Get("Accept"), status, code, title, detail)
	return fc.writeError(status, code, contentType, body, keep, req.Method == http.MethodHead)
}

// discard reads what is left of the request body, up to maxDiscard; it
// reports whether the body ended.
func (fc *frontConn) discard(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if cr, ok := req.Body.(*continueReader); ok && !cr.sent {
		return false // the visitor waits for 100 Continue: it never sent the body
	}
	n, err := io.CopyN(io.Discard, req.Body, maxDiscard+1)
	return err == io.EOF && n <= maxDiscard
}

// proxyError answers a request the agent could not complete with a 502
// page naming the tunnel.
func (fc *frontConn) proxyError(req *http.Request, t *tunnel, host string, err error) bool {
	s := fc.s
	switch proto.CodeOf(err) {
	case proto.CodeUpstreamUnreachable:
		forwards := ""
		if t.forwardsTo != "" {
			forwards = " at " + t.forwardsTo
		}
		return fc.writePage(req, http.StatusBadGateway, proto.CodeUpstreamUnreachable,
			"Tunnel "+host+" is online, but its local service is not responding",
			"The agent for "+host+" could not reach the local service"+forwards+". Make sure it is running.")
	case proto.CodeTunnelNotFound:
		return fc.writePage(req, http.StatusBadGateway, proto.CodeTunnelNotFound,
			"Tunnel "+host+" went offline",
			"The agent serving "+host+" disconnected while the request was in flight.")
	default:
		s.log.Debug("proxy request failed", slog.String("host", host), slog.Any("err", err))
		return fc.writePage(req, http.StatusBadGateway, "ERR_BAD_GATEWAY",
			"Tunnel "+host+" failed to answer",
			"The request to "+host+" could not be completed through its agent.")
	}
}

// continueReader sends the visitor "100 Continue" when the request body is
// first read (the visitor asked with Expect: 100-continue), unless an
// answer went out first.
type continueReader struct {
	fc   *frontConn
	body io.ReadCloser
	sent bool
}

func (c *continueReader) Read(p []byte) (int, error) {
	if !c.sent {
		c.sent = true
		c.fc.wmu.Lock()
		if !c.fc.responded {
			_, _ = c.fc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			_ = c.fc.bw.Flush()
		}
		c.fc.wmu.Unlock()
	}
	return c.body.Read(p)
}

func (c *continueReader) Close() error { return c.body.Close() }

// trackedBody is a request body on its way to the agent: it records
// whether it was read to its end, and can be cut off (abortRead) when the
// answer is done and the rest will never be needed.
type trackedBody struct {
	fc   *frontConn
	body io.ReadCloser
	done atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	// A long upload keeps the connection's deadline ahead of it: the
	// deadline then bounds how long the visitor may pause.
	b.fc.armDeadline(visitorIdleTimeout)
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.done.Store(true)
	}
	return n, err
}

// Close leaves the visitor's body alone: Request.Write closes the body it
// sent, and closing net/http's body would read the rest of it.
func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) finished() bool { return b.done.Load() }

// abortRead unblocks a read of the visitor's connection for the body; the
// connection is not reused after.
func (b *trackedBody) abortRead() { _ = b.fc.c.SetReadDeadline(time.Unix(1, 0)) }

// hangupWatch reads the visitor's connection while a slow request waits
// for its answer; a hang-up cancels the request. A byte that arrives
// instead (the next pipelined request) is kept for the reader.
type hangupWatch struct {
	fc     *frontConn
	cc     canceler
	since  time.Time
	mu     sync.Mutex
	state  int // 0: not started, 1: watching, 2: stopped
	done   chan struct{}
	hungUp bool
}

func (w *hangupWatch) start() {
	w.mu.Lock()
	if w.state != 0 {
		w.mu.Unlock()
		return
	}
	w.state = 1
	w.done = make(chan struct{})
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		cr := &w.fc.cr
		n, err := cr.c.Read(cr.peekBuf[:])
		if n > 0 {
			cr.mu.Lock()
			cr.peeked = cr.peekBuf[:n]
			cr.mu.Unlock()
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // stopped, or the connection's deadline passed
		}
		w.hungUp = true
		w.cc.cancel()
	}()
}

// stop ends the watch; it reports false when the visitor hung up.
func (w *hangupWatch) stop() bool {
	w.mu.Lock()
	state := w.state
	w.state = 2
	w.mu.Unlock()
	if state != 1 {
		return true
	}
	_ = w.fc.c.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	_ = w.fc.c.SetReadDeadline(w.fc.deadline)
	return !w.hungUp
}
