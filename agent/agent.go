// Package agent is the Edgeway agent library: it connects to a regional
// edge, authenticates, binds tunnels, forwards public connections to local
// services, reconnects with jittered exponential backoff and obeys remote
// stop and restart commands.
package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/edgeway/edgeway/internal/proto"
)

// Version is the agent software version reported to edges.
const Version = "0.1.0"

// Tunnel describes one tunnel to bind.
type Tunnel struct {
	// Name is a label for display and logs; default: the protocol.
	Name string
	// Proto is proto.ProtoHTTP or proto.ProtoTCP.
	Proto string
	// LocalAddr is the local service, "host:port".
	LocalAddr string
	// Domain asks for a hostname (HTTP): a label or a full name.
	Domain string
	// RemoteAddr asks for a TCP address ("host:port" or ":port").
	RemoteAddr string
	// Pooling shares the endpoint with other agents that also pool.
	Pooling bool
	// Metadata is free-form, user-supplied text.
	Metadata string
}

// Config configures an agent.
type Config struct {
	// ServerAddr is the edge's agent address, "host:port".
	ServerAddr string
	// Resolve, if set, is called by Run before every connection attempt
	// to choose the edge address (region auto re-probes, so an agent can
	// land elsewhere after a reconnect); it overrides ServerAddr.
	Resolve func(ctx context.Context) (string, error)
	// TLS configures TLS to the edge; nil means plain TCP (development
	// and tests only).
	TLS *tls.Config
	// Authtoken authenticates the agent.
	Authtoken string
	// Tunnels to bind once connected.
	Tunnels []Tunnel
	// Metadata is free-form, user-supplied text for the session.
	Metadata string
	// DisableRemoteManagement refuses remote stop and restart commands.
	DisableRemoteManagement bool
	// ClientID identifies this agent process across reconnects so the edge
	// replaces its ghost session at once. Default: random per Run.
	ClientID string
	// DialTimeout bounds connecting and authenticating. Default: 10s.
	DialTimeout time.Duration
	// LocalDialTimeout bounds dialing a local service. Default: 5s.
	LocalDialTimeout time.Duration
	// MinBackoff and MaxBackoff bound reconnect delays. Defaults: 500ms, 30s.
	MinBackoff, MaxBackoff time.Duration
	// Log receives the agent's logs; nil discards them.
	Log *slog.Logger
	// OnEvent, if set, is called on connection state changes.
	OnEvent func(Event)
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.LocalDialTimeout <= 0 {
		c.LocalDialTimeout = 5 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.ClientID == "" {
		c.ClientID = newID()
	}
	return c
}

// BoundTunnel is a tunnel the edge has bound.
type BoundTunnel struct {
	Tunnel
	// ID is the edge's tunnel id.
	ID string
	// PublicURL is where visitors reach it.
	PublicURL string
	// HTTPSURL is the HTTPS form of an HTTP tunnel's URL, when the edge
	// serves HTTPS.
	HTTPSURL string
}

// ForwardsTo describes the local service as shown to users and sent to
// the edge, such as "http://localhost:8080".
func (t Tunnel) ForwardsTo() string {
	if t.Proto == proto.ProtoHTTP {
		return "http://" + t.LocalAddr
	}
	return t.LocalAddr
}

// RemoteCommand is returned by Session.Wait and Run when the edge asked
// the agent to stop or restart.
type RemoteCommand struct {
	// Kind is "stop" or "restart".
	Kind string
	// Reason is the operator's explanation, possibly empty.
	Reason string
}

// Error describes the command.
func (e *RemoteCommand) Error() string {
	if e.Reason == "" {
		return "remote " + e.Kind + " requested"
	}
	return "remote " + e.Kind + " requested: " + e.Reason
}

// ErrEdgeDraining is returned by Session.Wait when the edge announced it
// is shutting down; Run reconnects.
var ErrEdgeDraining = errors.New("the edge is shutting down")

// Session is one connection to an edge.
type Session struct {
	cfg       Config
	log       *slog.Logger
	mux       *yamux.Session
	ctrl      *proto.Control
	id        string
	region    string
	heartbeat time.Duration
	tunnels   []BoundTunnel
	byID      map[string]*BoundTunnel
	started   time.Time
	latency   atomic.Int64 // nanoseconds, last heartbeat round trip
	conns     connStats    // proxied connections

	endOnce sync.Once
	endErr  error
	done    chan struct{}
	wg      sync.WaitGroup
}

// ID returns the session id the edge assigned.
func (s *Session) ID() string { return s.id }

// Region returns the edge's region code.
func (s *Session) Region() string { return s.region }

// Tunnels returns the bound tunnels.
func (s *Session) Tunnels() []BoundTunnel { return append([]BoundTunnel(nil), s.tunnels...) }

// Latency returns the last measured heartbeat round trip, or 0 before the
// first one.
func (s *Session) Latency() time.Duration { return time.Duration(s.latency.Load()) }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Started returns when the session was established.
func (s *Session) Started() time.Time { return s.started }

// Stats returns the session's live counters (see Stats). Reading them
// also samples the open count for the averages, at most once a second.
func (s *Session) Stats() Stats {
	st := s.conns.read(time.Now(), s.started)
	st.Latency = s.Latency()
	return st
}

// Connect dials the edge, authenticates, opens the control stream and
// binds every configured tunnel. A failure to bind closes the session and
// is returned (a *proto.Error for refusals by the edge).
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	mux, err := dial(ctx, cfg.ServerAddr, cfg.TLS, cfg.Log)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, mux: mux, done: make(chan struct{}), byID: map[string]*BoundTunnel{}}
	if err := s.start(ctx); err != nil {
		_ = mux.Close()
		return nil, err
	}
	return s, nil
}

// dial connects to an edge's agent address and starts yamux over plain
// TCP or TLS.
func dial(ctx context.Context, addr string, tlsConfig *tls.Config, log *slog.Logger) (*yamux.Session, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to edge %s: %w", addr, err)
	}
	var transport net.Conn
	if tlsConfig != nil {
		tc := tlsConfig.Clone()
		if tc.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				tc.ServerName = host
			}
		}
		tconn, tr := proto.TLSTransport(conn, func(c net.Conn) *tls.Conn { return tls.Client(c, tc) })
		if err := tconn.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("tls handshake with edge %s: %w", addr, err)
		}
		transport = tr
	} else {
		transport = conn // yamux writes frames with writev and splices on a *net.TCPConn
	}
	mux, err := proto.Client(transport, log)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return mux, nil
}

func (s *Session) start(ctx context.Context) error {
	cfg := s.cfg
	var auth proto.AuthResponse
	err := proto.Call(ctx, s.mux, proto.TypeAuth, proto.AuthRequest{
		Version:          proto.Version,
		Authtoken:        cfg.Authtoken,
		ClientID:         cfg.ClientID,
		AgentVersion:     Version,
		OS:               runtime.GOOS,
		Arch:             runtime.GOARCH,
		Hostname:         hostname(),
		Metadata:         cfg.Metadata,
		RemoteManagement: !cfg.DisableRemoteManagement,
	}, &auth)
	if err != nil {
		return fmt.Errorf("authenticate with edge %s: %w", cfg.ServerAddr, err)
	}
	s.id, s.region = auth.SessionID, auth.Region
	s.started = time.Now()
	s.heartbeat = time.Duration(auth.HeartbeatMillis) * time.Millisecond
	if s.heartbeat <= 0 {
		s.heartbeat = 10 * time.Second
	}
	s.log = cfg.Log.With(slog.String("session_id", s.id), slog.String("region", s.region))

	stream, err := s.mux.Open()
	if err != nil {
		return fmt.Errorf("open control stream: %w", err)
	}
	if err := proto.WriteFrame(stream, proto.TypeControl, proto.ControlHello{}); err != nil {
		_ = stream.Close()
		return fmt.Errorf("open control stream: %w", err)
	}
	s.ctrl = proto.NewControl(stream, s.log)
	// The edge echoes every heartbeat: three missed echoes mean it is gone.
	s.ctrl.ReadTimeout = 3 * s.heartbeat

	for _, t := range cfg.Tunnels {
		if t.Name == "" {
			t.Name = t.Proto
		}
		var resp proto.BindResponse
		err := proto.Call(ctx, s.mux, proto.TypeBind, proto.BindRequest{
			Proto:      t.Proto,
			Name:       t.Name,
			Domain:     t.Domain,
			RemoteAddr: t.RemoteAddr,
			Pooling:    t.Pooling,
			ForwardsTo: t.ForwardsTo(),
			Metadata:   t.Metadata,
		}, &resp)
		if err != nil {
			return fmt.Errorf("start tunnel %s: %w", t.Name, err)
		}
		s.tunnels = append(s.tunnels, BoundTunnel{Tunnel: t, ID: resp.TunnelID, PublicURL: resp.PublicURL, HTTPSURL: resp.HTTPSURL})
	}
	for i := range s.tunnels {
		s.byID[s.tunnels[i].ID] = &s.tunnels[i]
	}
	s.wg.Add(3)
	go s.runControl()
	go s.sendHeartbeats()
	go s.serveStreams()
	return nil
}

// end records why the session ended (first reason wins) and closes it.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.endErr = err
		close(s.done)
		_ = s.mux.Close()
	})
}

// Close ends the session.
func (s *Session) Close() error {
	s.end(nil)
	s.wg.Wait()
	return nil
}

// Wait blocks until the session ends and returns why: a *RemoteCommand,
// ErrEdgeDraining, the connection error, or nil after Close or when ctx
// ends.
func (s *Session) Wait(ctx context.Context) error {
	select {
	case <-s.done:
	case <-s.mux.CloseChan():
		s.end(fmt.Errorf("connection to edge %s lost", s.cfg.ServerAddr))
	case <-ctx.Done():
		s.end(nil)
	}
	s.wg.Wait()
	return s.endErr
}

func (s *Session) runControl() {
	defer s.wg.Done()
	c := s.ctrl
	c.Handle(proto.TypeHeartbeat, func(_ context.Context, f proto.Frame) error {
		var hb proto.Heartbeat
		if err := f.Decode(&hb); err != nil {
			return err
		}
		if rtt := time.Now().UnixNano() - hb.SentUnixNano; rtt > 0 {
			s.latency.Store(rtt)
		}
		return nil
	})
	command := func(kind string) func(context.Context, proto.Frame) error {
		return func(_ context.Context, f proto.Frame) error {
			var cmd proto.Command
			if err := f.Decode(&cmd); err != nil {
				return err
			}
			if s.cfg.DisableRemoteManagement {
				s.log.Warn("refused remote "+kind+": remote management is disabled", slog.String("reason", cmd.Reason))
				return c.Send(proto.TypeCommandResult, proto.CommandResult{ID: cmd.ID, Error: proto.Errorf(
					proto.CodeRemoteManagementDisabled, "the agent disables remote management (remote_management: false)")})
			}
			_ = c.Send(proto.TypeCommandResult, proto.CommandResult{ID: cmd.ID})
			s.end(&RemoteCommand{Kind: kind, Reason: cmd.Reason})
			return nil
		}
	}
	c.Handle(proto.TypeStop, command("stop"))
	c.Handle(proto.TypeRestart, command("restart"))
	c.Handle(proto.TypeDrain, func(context.Context, proto.Frame) error {
		s.end(ErrEdgeDraining)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.done
		cancel()
	}()
	err := c.Run(ctx)
	s.end(fmt.Errorf("control stream closed: %w", err))
}

func (s *Session) sendHeartbeats() {
	defer s.wg.Done()
	tick := time.NewTicker(s.heartbeat)
	defer tick.Stop()
	send := func() bool {
		return s.ctrl.Send(proto.TypeHeartbeat, proto.Heartbeat{SentUnixNano: time.Now().UnixNano()}) == nil
	}
	if !send() {
		return
	}
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if !send() {
				return
			}
		}
	}
}

// ack is the proxy acknowledgement frame, identical for every stream.
var ack = proto.AppendFrame(nil, proto.TypeProxy, nil)

func (s *Session) serveStreams() {
	defer s.wg.Done()
	var r proto.Router
	r.Log = s.log
	r.HandleStream(proto.TypeProxy, s.proxy)
	_ = r.Serve(context.Background(), s.mux)
	s.end(fmt.Errorf("connection to edge %s lost", s.cfg.ServerAddr))
}

// proxy serves one proxy stream: dial the local service, acknowledge, and
// splice.
func (s *Session) proxy(_ context.Context, f proto.Frame, stream net.Conn) {
	var hdr proto.ProxyHeader
	if err := f.Decode(&hdr); err != nil {
		_ = proto.WriteError(stream, err)
		_ = stream.Close()
		return
	}
	t := s.byID[hdr.TunnelID]
	if t == nil {
		_ = proto.WriteError(stream, proto.Errorf(proto.CodeTunnelNotFound, "tunnel %q is not served by this agent", hdr.TunnelID))
		_ = stream.Close()
		return
	}
	local, err := net.DialTimeout("tcp", t.LocalAddr, s.cfg.LocalDialTimeout)
	if err != nil {
		s.log.Warn("local service unreachable", slog.String("tunnel", t.Name), slog.String("public_url", t.PublicURL),
			slog.String("local_addr", t.LocalAddr), slog.Any("err", err))
		_ = proto.WriteError(stream, proto.Errorf(proto.CodeUpstreamUnreachable,
			"the agent could not reach %s: %v", t.LocalAddr, unwrapOp(err)))
		_ = stream.Close()
		return
	}
	if _, err := stream.Write(ack); err != nil {
		_ = local.Close()
		_ = stream.Close()
		return
	}
	start := time.Now()
	s.conns.begin()
	defer func() { s.conns.end(time.Since(start)) }()
	proto.Join(stream, local)
}

// unwrapOp shortens "dial tcp 127.0.0.1:1: connect: connection refused" to
// its cause.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hostname is the machine's name, shown on the dashboard's Agents page.
func hostname() string {
	h, _ := os.Hostname()
	if len(h) > 255 {
		h = h[:255]
	}
	return h
}
