package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The agent side of the public HTTP proxy: each request is written and
// its response read on the visitor connection's goroutine (front.go), over
// a proxy stream to the agent kept alive between requests in a pool per
// tunnel. net/http's Transport would add a read and a write goroutine per
// connection and two goroutine handoffs per request.

const (
	// maxIdlePerTunnel bounds the idle streams kept for one tunnel.
	maxIdlePerTunnel = 256
	// proxyIdleTimeout drops streams idle for longer (and the agent's
	// connection to the local service behind them).
	proxyIdleTimeout = 90 * time.Second
	// bodyWriteGrace is how long a finished response waits for its
	// request body to be written before the stream is given up rather
	// than reused (net/http's Transport waits 50 ms too).
	bodyWriteGrace = 50 * time.Millisecond
	proxyBufSize   = 16 << 10
)

// proxyConn is one HTTP/1.1 connection to a tunnel's local service: a
// proxy stream to its agent.
type proxyConn struct {
	t      *tunnel
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// remoteClosed reports whether the agent closed the stream (its local
// service closed the connection) while it sat idle.
func (pc *proxyConn) remoteClosed() bool {
	if pc.br.Buffered() > 0 {
		return true // bytes nobody asked for: not a clean HTTP connection
	}
	rc, ok := pc.conn.(interface{ RemoteClosed() bool })
	return ok && rc.RemoteClosed()
}

// connPool holds a tunnel's idle proxy connections, most recent last.
// Connections idle for proxyIdleTimeout are closed: by get and put in
// passing, and by a sweep timer armed while the pool holds any (one timer
// per pool, re-armed every proxyIdleTimeout, not per request).
type connPool struct {
	mu     sync.Mutex
	idle   []*proxyConn
	closed bool
	sweep  *time.Timer
	armed  bool
}

// get returns a live idle connection, or nil.
func (p *connPool) get() *proxyConn {
	now := time.Now()
	var stale []*proxyConn
	p.mu.Lock()
	var pc *proxyConn
	for n := len(p.idle); n > 0 && pc == nil; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.idleAt) >= proxyIdleTimeout || c.remoteClosed() {
			stale = append(stale, c)
			continue
		}
		pc = c
	}
	// The oldest idle connections expire first; drop them in passing.
	stale = p.expireLocked(now, stale)
	p.mu.Unlock()
	closeConns(stale)
	return pc
}

// expireLocked moves the connections idle for proxyIdleTimeout (the
// oldest, at the front) from the pool to stale. p.mu is held.
func (p *connPool) expireLocked(now time.Time, stale []*proxyConn) []*proxyConn {
	for len(p.idle) > 0 && now.Sub(p.idle[0].idleAt) >= proxyIdleTimeout {
		stale = append(stale, p.idle[0])
		p.idle[0] = nil
		p.idle = p.idle[1:]
	}
	return stale
}

func closeConns(cs []*proxyConn) {
	for _, c := range cs {
		_ = c.conn.Close()
	}
}

// put keeps pc for the next request, or closes it when the pool is full
// or closed.
func (p *connPool) put(pc *proxyConn) {
	pc.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerTunnel {
		p.mu.Unlock()
		_ = pc.conn.Close()
		return
	}
	p.idle = append(p.idle, pc)
	if !p.armed {
		p.armed = true
		if p.sweep == nil {
			p.sweep = time.AfterFunc(proxyIdleTimeout, p.sweepIdle)
		} else {
			p.sweep.Reset(proxyIdleTimeout)
		}
	}
	p.mu.Unlock()
}

// sweepIdle closes the connections idle for proxyIdleTimeout, and comes
// back while any are left.
func (p *connPool) sweepIdle() {
	now := time.Now()
	p.mu.Lock()
	stale := p.expireLocked(now, nil)
	if len(p.idle) > 0 && !p.closed {
		p.sweep.Reset(proxyIdleTimeout - now.Sub(p.idle[0].idleAt))
	} else {
		p.armed = false
	}
	p.mu.Unlock()
	closeConns(stale)
}

// close closes every idle connection, later puts close theirs. Callers
// may hold Server.mu: closing a stream of a live session waits for its
// send loop, so that happens on a goroutine of its own.
func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.sweep != nil {
		p.sweep.Stop()
	}
	p.mu.Unlock()
	if len(idle) > 0 {
		go closeConns(idle)
	}
}

// roundTrip sends req to the tunnel's local service and returns its
// response. The response body hands the connection back to the pool once
// read to the end. cc, when not nil, lets the caller abort the request;
// interim, when not nil, receives informational responses (102, 103)
// that come before the final one.
func (t *tunnel) roundTrip(req *http.Request, cc *canceler, interim func(*http.Response)) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody
	for {
		pc, reused := t.pool.get(), true
		if pc == nil {
			conn, err := t.open(context.Background(), "")
			if err != nil {
				closeBody(req)
				return nil, err
			}
			pc, reused = &proxyConn{t: t, conn: conn,
				br: bufio.NewReaderSize(conn, proxyBufSize), bw: bufio.NewWriterSize(conn, proxyBufSize)}, false
		}
		resp, err := pc.roundTrip(req, cc, interim)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection the local service closed just as the
		// request went out: try once more on a new one, as net/http does,
		// when the request can be sent again.
		if reused && replayable && idempotent(req) && errors.Is(err, errClosedIdle) && !cc.cancelled() {
			continue
		}
		return nil, err
	}
}

// canceler aborts a request in flight by closing its proxy stream.
type canceler struct {
	mu   sync.Mutex
	conn net.Conn
	done bool
}

// set attaches the request's stream; false if the request was cancelled.
func (c *canceler) set(conn net.Conn) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.conn = conn
	return true
}

// release detaches the stream (the request is complete); false if the
// request was cancelled meanwhile.
func (c *canceler) release() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = nil
	return !c.done
}

// cancel closes the request's stream, if any, and refuses later ones.
func (c *canceler) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

func (c *canceler) cancelled() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// errCancelled reports a request whose visitor went away.
var errCancelled = errors.New("the visitor went away")

// errClosedIdle reports a reused connection that ended before a response
// byte arrived.
var errClosedIdle = errors.New("the local service closed an idle connection")

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// bodyAborter is a request body whose blocked read can be cut off (the
// front end's trackedBody).
type bodyAborter interface{ abortRead() }

// cutBody stops the request body's writer (wrote, when not nil) and waits
// for it: the stream is given up.
func cutBody(req *http.Request, wrote chan error) {
	if wrote == nil {
		return
	}
	if a, ok := req.Body.(bodyAborter); ok {
		a.abortRead()
	}
	<-wrote
}

// roundTrip writes req on pc and reads the response head. Requests without
// a body are written inline; a body is written by its own goroutine while
// the response is read, so a local service may answer (or stream) before
// it has read the whole request.
func (pc *proxyConn) roundTrip(req *http.Request, cc *canceler, interim func(*http.Response)) (*http.Response, error) {
	// Cancelling the request (the visitor went away) closes the stream,
	// which unblocks a read or write in progress.
	if !cc.set(pc.conn) {
		pc.t.pool.put(pc)
		closeBody(req)
		return nil, errCancelled
	}
	stop := cc.release
	var wrote chan error
	if req.Body == nil || req.Body == http.NoBody {
		err := req.Write(pc.bw)
		if err == nil {
			err = pc.bw.Flush()
		}
		if err != nil {
			stop()
			_ = pc.conn.Close()
			return nil, mapErr(cc, err)
		}
	} else {
		wrote = make(chan error, 1)
		go func() {
			err := req.Write(pc.bw)
			if err == nil {
				err = pc.bw.Flush()
			}
			if err != nil {
				// The response, if any, is still read; the stream is
				// not reused.
				_ = pc.conn.Close()
			}
			wrote <- err
		}()
	}
	resp, err := pc.readResponse(req, interim)
	if err != nil {
		stop()
		_ = pc.conn.Close()
		cutBody(req, wrote)
		return nil, mapErr(cc, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The stream now belongs to the upgraded connection (WebSocket);
		// the front end joins it to the visitor's.
		stop()
		cutBody(req, wrote)
		resp.Body = &bufferedConn{Conn: pc.conn, br: pc.br}
		return resp, nil
	}
	reusable := !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1)
	body := &pooledBody{pc: pc, req: req, body: resp.Body, stop: stop, wrote: wrote, reusable: reusable}
	if resp.Body == http.NoBody {
		body.finish(true)
		return resp, nil
	}
	resp.Body = body
	return resp, nil
}

// readResponse reads the response head. Informational responses before
// it go to interim (100 Continue aside: the visitor's side answered
// Expect: 100-continue itself); 101 Switching Protocols is final.
func (pc *proxyConn) readResponse(req *http.Request, interim func(*http.Response)) (*http.Response, error) {
	// Tell "closed before any byte" apart from a broken response.
	if _, err := pc.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errClosedIdle
		}
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if resp.StatusCode != http.StatusContinue && interim != nil {
				interim(resp)
			}
			continue
		}
		return resp, nil
	}
}

// mapErr reports a cancelled request as such rather than as the error of
// its closed stream.
func mapErr(cc *canceler, err error) error {
	if cc.cancelled() {
		return errCancelled
	}
	return err
}

// pooledBody is a response body that returns its connection to the pool
// once read to the end, or closes it when abandoned early.
type pooledBody struct {
	pc       *proxyConn
	req      *http.Request
	body     io.ReadCloser
	stop     func() bool
	wrote    chan error
	reusable bool
	done     bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// more reports whether more of the response is buffered already (the
// front end then holds its flush).
func (b *pooledBody) more() bool { return b.pc.br.Buffered() > 0 }

func (b *pooledBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: back to the pool when the whole
// response was read, the request was written and both sides keep the
// connection alive; closed otherwise.
func (b *pooledBody) finish(complete bool) {
	b.done = true
	stopped := b.stop()
	ok := complete && b.reusable && stopped
	if b.wrote != nil {
		select {
		case err := <-b.wrote:
			ok = ok && err == nil
		default:
			timer := time.NewTimer(bodyWriteGrace)
			select {
			case err := <-b.wrote:
				ok = ok && err == nil
			case <-timer.C:
				ok = false
				_ = b.pc.conn.Close()
				cutBody(b.req, b.wrote)
			}
			timer.Stop()
		}
	}
	if ok {
		b.pc.t.pool.put(b.pc)
		return
	}
	_ = b.pc.conn.Close()
}

// bufferedConn is a connection read through a bufio.Reader that may hold
// bytes already: an upgraded connection (the body of a 101 response, or
// the visitor's side) after its HTTP exchange.
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.br.Read(p) }
