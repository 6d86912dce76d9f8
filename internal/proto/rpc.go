package proto

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Opener opens a new stream on a session; *yamux.Session satisfies it.
type Opener interface {
	Open() (net.Conn, error)
}

// Acceptor accepts streams opened by the peer; *yamux.Session satisfies it.
type Acceptor interface {
	Accept() (net.Conn, error)
}

// Call performs one request/response exchange on a new stream: it writes
// req as a frame of type t, reads the answer into resp and closes the
// stream. An error answer is returned as *Error. ctx bounds the whole
// exchange.
func Call(ctx context.Context, o Opener, t Type, req, resp any) error {
	stream, err := o.Open()
	if err != nil {
		return err
	}
	defer stream.Close()
	// Expire the stream once ctx is done (not at ctx's deadline itself, so
	// ctx.Err() is set by the time the stream fails).
	stop := context.AfterFunc(ctx, func() { _ = stream.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := WriteFrame(stream, t, req); err != nil {
		return ctxErr(ctx, err)
	}
	f, err := ReadFrame(stream, 0)
	if err != nil {
		return ctxErr(ctx, err)
	}
	return f.Expect(t, resp)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// CallHandler answers one call. The returned value is sent as the
// response body; a returned error is sent as a TypeError frame (see
// Error).
type CallHandler func(ctx context.Context, f Frame) (any, error)

// StreamHandler takes over a stream whose first frame was f. It owns the
// stream and must close it.
type StreamHandler func(ctx context.Context, f Frame, stream net.Conn)

// Router dispatches the streams a peer opens by the type of their first
// frame. Register handlers before Serve.
type Router struct {
	// HeaderTimeout bounds how long a new stream may take to send its
	// first frame. Zero means 10 seconds.
	HeaderTimeout time.Duration
	// Log receives protocol errors; nil discards them.
	Log *slog.Logger

	calls   map[Type]CallHandler
	streams map[Type]StreamHandler
}

// HandleCall registers h for call streams of type t.
func (r *Router) HandleCall(t Type, h CallHandler) {
	if r.calls == nil {
		r.calls = make(map[Type]CallHandler)
	}
	r.calls[t] = h
}

// HandleStream registers h for streams of type t.
func (r *Router) HandleStream(t Type, h StreamHandler) {
	if r.streams == nil {
		r.streams = make(map[Type]StreamHandler)
	}
	r.streams[t] = h
}

// On registers a typed call handler for t on r: the request body is
// decoded into a Req and fn's response is encoded as the answer.
func On[Req, Resp any](r *Router, t Type, fn func(ctx context.Context, req *Req) (*Resp, error)) {
	r.HandleCall(t, func(ctx context.Context, f Frame) (any, error) {
		req := new(Req)
		if err := f.Decode(req); err != nil {
			return nil, err
		}
		return fn(ctx, req)
	})
}

// Serve accepts streams from a until it fails (typically because the
// session closed) and serves each on its own goroutine. It returns the
// accept error after every handler it started has returned.
func (r *Router) Serve(ctx context.Context, a Acceptor) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		stream, err := a.Accept()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.ServeStream(ctx, stream)
		}()
	}
}

// ServeStream reads the first frame of stream and dispatches it.
func (r *Router) ServeStream(ctx context.Context, stream net.Conn) {
	timeout := r.HeaderTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	_ = stream.SetReadDeadline(time.Now().Add(timeout))
	f, err := ReadFrame(stream, 0)
	if err != nil {
		r.logf("read stream header", err)
		var pe *Error
		if errors.As(err, &pe) {
			_ = WriteError(stream, pe)
		}
		_ = stream.Close()
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	if h, ok := r.streams[f.Type]; ok {
		h(ctx, f, stream)
		return
	}
	defer stream.Close()
	h, ok := r.calls[f.Type]
	if !ok {
		_ = WriteError(stream, Errorf(CodeUnknownType, "stream type %s is not served here", f.Type))
		return
	}
	resp, err := h(ctx, f)
	_ = stream.SetWriteDeadline(time.Now().Add(timeout))
	if err != nil {
		if CodeOf(err) == "" || CodeOf(err) == CodeInternal {
			r.logf("call "+f.Type.String(), err)
		}
		_ = WriteError(stream, err)
		return
	}
	if err := WriteFrame(stream, f.Type, resp); err != nil {
		r.logf("write "+f.Type.String()+" response", err)
	}
}

func (r *Router) logf(what string, err error) {
	if r.Log != nil {
		r.Log.Debug("proto: "+what, slog.Any("err", err))
	}
}

// Control is the long-lived control stream: it sends messages under a
// lock and dispatches received ones by type to handlers.
type Control struct {
	// ReadTimeout, if set, ends Run when no message arrives for that long
	// (peers heartbeat well within it), so a dead peer is noticed fast.
	ReadTimeout time.Duration

	conn     net.Conn
	log      *slog.Logger
	wmu      sync.Mutex
	handlers map[Type]func(ctx context.Context, f Frame) error
}

// NewControl wraps conn as a control stream. log may be nil.
func NewControl(conn net.Conn, log *slog.Logger) *Control {
	return &Control{conn: conn, log: log, handlers: make(map[Type]func(context.Context, Frame) error)}
}

// Handle registers fn for messages of type t. Call it before Run. Handlers
// run on Run's goroutine, in order, and must not block for long; an error
// from a handler ends Run.
func (c *Control) Handle(t Type, fn func(ctx context.Context, f Frame) error) {
	c.handlers[t] = fn
}

// Send writes one message. It is safe for concurrent use.
func (c *Control) Send(t Type, v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(15 * time.Second))
	return WriteFrame(c.conn, t, v)
}

// Run reads and dispatches messages until the stream fails, a handler
// returns an error or ctx ends. Messages of unknown types are ignored, so
// older peers tolerate newer pushes.
func (c *Control) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.Close() })
	defer stop()
	for {
		if c.ReadTimeout > 0 {
			_ = c.conn.SetReadDeadline(time.Now().Add(c.ReadTimeout))
		}
		f, err := ReadFrame(c.conn, 0)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		h, ok := c.handlers[f.Type]
		if !ok {
			if c.log != nil {
				c.log.Debug("proto: ignoring control message of unknown type", slog.String("type", f.Type.String()))
			}
			continue
		}
		if err := h(ctx, f); err != nil {
			return err
		}
	}
}

// Close closes the underlying stream.
func (c *Control) Close() error { return c.conn.Close() }
