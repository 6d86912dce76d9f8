package edge

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/edgeway/edgeway/internal/proto"
)

// Observer is told about agent sessions and tunnels as they start and
// end. Calls come from the edge's hot paths without its locks held and
// must not block.
type Observer interface {
	SessionStarted(proto.SessionInfo)
	SessionEnded(proto.SessionEnded)
	TunnelStarted(proto.TunnelInfo)
	TunnelEnded(proto.TunnelEnded)
}

// BindChecker decides whether a session may bind an explicitly requested
// name (reserved domains and addresses, their regions) and reports whether
// the session's account reserved it. Refusals are *proto.Error, such as
// proto.CodeDomainOtherRegion with Details["region"].
type BindChecker interface {
	CheckBind(ctx context.Context, req proto.BindCheckRequest) (reserved bool, err error)
}

// ControlConfig configures the edge's control channel to the bff.
type ControlConfig struct {
	// Addr is the bff's control-channel address.
	Addr string
	// Token is the shared edge secret the bff expects.
	Token string
	// TLS configures TLS to the bff; nil means plain TCP (development).
	TLS *tls.Config
	// MinBackoff and MaxBackoff bound reconnect delays. Defaults: 250ms, 10s.
	MinBackoff, MaxBackoff time.Duration
}

// Control is the edge's side of the control channel: it dials the bff,
// says hello, sends a snapshot of its sessions and tunnels (so the bff
// reconciles after any outage), pushes changes, heartbeats, and carries
// out stop, restart and revoke commands. It implements Authenticator,
// BindChecker and Observer for its Server. While the bff is unreachable
// the edge keeps serving its agents; new agents are refused with
// proto.CodeUnavailable, which agents retry.
type Control struct {
	cfg    ControlConfig
	log    *slog.Logger
	edgeID string
	srv    *Server

	mu        sync.Mutex
	mux       *yamux.Session // nil while disconnected
	ctl       *proto.Control // nil until the control stream is open
	queue     chan queued
	connected chan struct{} // closed while connected; replaced on loss
}

type queued struct {
	t proto.Type
	v any
}

// NewControl returns the control channel for srv (see Server.SetControl).
func NewControl(cfg ControlConfig, srv *Server, log *slog.Logger) *Control {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	c := &Control{
		cfg:       cfg,
		srv:       srv,
		edgeID:    "edge_" + string(srv.cfg.Region) + "_" + hex.EncodeToString(b[:]),
		log:       log.With(slog.String("bff_addr", cfg.Addr)),
		queue:     make(chan queued, 4096),
		connected: make(chan struct{}),
	}
	return c
}

// EdgeID returns the id this edge registers under.
func (c *Control) EdgeID() string { return c.edgeID }

// Connected returns a channel that is closed while the channel to the bff
// is up (a fresh channel after each loss).
func (c *Control) Connected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Run keeps the channel up until ctx ends, reconnecting with jittered
// exponential backoff.
func (c *Control) Run(ctx context.Context) {
	delay := c.cfg.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			delay = c.cfg.MinBackoff
		}
		d := delay/2 + jitter(delay/2)
		c.log.Warn("control channel to the bff lost; the edge keeps serving its agents", slog.Any("err", err), slog.Duration("retry_in", d))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		delay = min(2*delay, c.cfg.MaxBackoff)
	}
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(max)))
	if err != nil {
		return 0
	}
	return time.Duration(n.Int64())
}

// session runs one connection to the bff.
func (c *Control) session(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial bff: %w", err)
	}
	// Plain TCP goes to yamux as it is: it writes frames with writev
	// and splices on a *net.TCPConn.
	var transport net.Conn = conn
	if c.cfg.TLS != nil {
		tc, tr := proto.TLSTransport(conn, func(raw net.Conn) *tls.Conn { return tls.Client(raw, c.cfg.TLS) })
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("tls handshake with bff: %w", err)
		}
		transport = tr
	}
	mux, err := proto.Client(transport, c.log)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer mux.Close()
	s := c.srv
	var welcome proto.EdgeWelcome
	hello := proto.EdgeHello{
		Version: proto.Version, Token: c.cfg.Token, EdgeID: c.edgeID, Region: string(s.cfg.Region),
		BaseDomain: s.cfg.BaseDomain, TCPPorts: s.cfg.TCPPorts.String(),
	}
	if a := s.HTTPAddr(); a != nil {
		hello.HTTPAddr = a.String()
	}
	if a := s.HTTPSAddr(); a != nil {
		hello.HTTPSAddr = a.String()
	}
	if a := s.AgentAddr(); a != nil {
		hello.AgentAddr = a.String()
	}
	if err := proto.Call(dctx, mux, proto.TypeEdgeHello, hello, &welcome); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	beat := time.Duration(welcome.HeartbeatMillis) * time.Millisecond
	if beat <= 0 {
		beat = 5 * time.Second
	}

	// Commands from the bff arrive as calls on streams it opens.
	var r proto.Router
	r.Log = c.log
	proto.On(&r, proto.TypeSessionCommand, func(ctx context.Context, cmd *proto.SessionCommand) (*proto.CommandResult, error) {
		return c.command(ctx, cmd)
	})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = r.Serve(ctx, mux)
	}()
	defer func() { <-served }()
	defer mux.Close()

	// Publish the connection, then open the control stream with a fresh
	// snapshot; queued pushes from before the snapshot are stale.
	stream, err := mux.Open()
	if err != nil {
		return err
	}
	c.mu.Lock()
	for len(c.queue) > 0 {
		<-c.queue
	}
	ipEpoch := s.ipSnapshotEpoch() // the bff answers this snapshot with the IP restrictions
	snap := s.Snapshot()
	c.mux = mux
	err = proto.WriteFrame(stream, proto.TypeEdgeControl, snap)
	ctl := proto.NewControl(stream, c.log)
	ctl.ReadTimeout = 3 * beat
	c.ctl = ctl
	close(c.connected)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.mux, c.ctl = nil, nil
		c.connected = make(chan struct{})
		c.mu.Unlock()
	}()
	if err != nil {
		return fmt.Errorf("send snapshot: %w", err)
	}
	c.log.Info("control channel to the bff up", slog.String("edge_id", c.edgeID),
		slog.Int("sessions", len(snap.Sessions)), slog.Int("tunnels", len(snap.Tunnels)))

	ctl.Handle(proto.TypeEdgeHeartbeat, func(context.Context, proto.Frame) error { return nil })
	ctl.Handle(proto.TypeIPPolicies, func(_ context.Context, f proto.Frame) error {
		var p proto.IPPolicies
		if err := f.Decode(&p); err != nil {
			return err
		}
		if p.Full {
			c.srv.replaceIPPolicies(ipEpoch, p.Accounts)
		} else {
			c.srv.SetIPPolicies(false, p.Accounts...)
		}
		return nil
	})
	runErr := make(chan error, 1)
	go func() { runErr <- ctl.Run(ctx) }()
	tick := time.NewTicker(beat)
	defer tick.Stop()
	send := func(t proto.Type, v any) error { return ctl.Send(t, v) }
	if err := send(proto.TypeEdgeHeartbeat, proto.Heartbeat{SentUnixNano: time.Now().UnixNano()}); err != nil {
		return err
	}
	for {
		select {
		case err := <-runErr:
			return fmt.Errorf("control stream: %w", err)
		case <-mux.CloseChan():
			return errors.New("bff connection closed")
		case q := <-c.queue:
			if err := send(q.t, q.v); err != nil {
				return err
			}
		case <-tick.C:
			if err := send(proto.TypeEdgeHeartbeat, proto.Heartbeat{SentUnixNano: time.Now().UnixNano()}); err != nil {
				return err
			}
		}
	}
}

// command carries out a SessionCommand from the bff.
func (c *Control) command(ctx context.Context, cmd *proto.SessionCommand) (*proto.CommandResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	var err error
	switch cmd.Action {
	case proto.ActionStop:
		err = c.srv.StopSession(ctx, cmd.SessionID, cmd.Reason)
	case proto.ActionRestart:
		err = c.srv.RestartSession(ctx, cmd.SessionID, cmd.Reason)
	case proto.ActionRevoke:
		err = c.srv.RevokeSession(ctx, cmd.SessionID, cmd.Reason)
	default:
		return nil, proto.Errorf(proto.CodeBadRequest, "unknown session action %q", cmd.Action)
	}
	var pe *proto.Error
	switch {
	case err == nil:
		return &proto.CommandResult{}, nil
	case errors.As(err, &pe) && pe.Code == proto.CodeRemoteManagementDisabled:
		return &proto.CommandResult{Error: pe}, nil
	default:
		return nil, err
	}
}

// current returns the live connection, or an error agents retry.
func (c *Control) current() (*yamux.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mux == nil {
		return nil, proto.Errorf(proto.CodeUnavailable, "the edge cannot reach the bff to check authtokens right now; retrying")
	}
	return c.mux, nil
}

// Authenticate asks the bff whether an agent may start a session.
func (c *Control) Authenticate(ctx context.Context, req AuthRequest) (Grant, error) {
	mux, err := c.current()
	if err != nil {
		return Grant{}, err
	}
	var resp proto.AgentAuthResponse
	if err := proto.Call(ctx, mux, proto.TypeAgentAuth, proto.AgentAuthRequest{Auth: req.Auth, RemoteAddr: req.RemoteAddr}, &resp); err != nil {
		if proto.CodeOf(err) == "" {
			return Grant{}, proto.Errorf(proto.CodeUnavailable, "the bff did not answer the authtoken check; retrying")
		}
		return Grant{}, err
	}
	if resp.IPPolicy != nil {
		c.srv.setIPPolicyIfAbsent(*resp.IPPolicy)
	}
	return Grant{SessionID: resp.SessionID, AccountID: resp.AccountID, CredentialID: resp.CredentialID, ACL: resp.ACL}, nil
}

// CheckBind asks the bff whether a session may bind a requested name.
func (c *Control) CheckBind(ctx context.Context, req proto.BindCheckRequest) (bool, error) {
	mux, err := c.current()
	if err != nil {
		return false, proto.Errorf(proto.CodeUnavailable, "the edge cannot reach the bff to check %s right now; retrying", req.Name)
	}
	var resp proto.BindCheckResponse
	if err := proto.Call(ctx, mux, proto.TypeBindCheck, req, &resp); err != nil {
		if proto.CodeOf(err) == "" {
			return false, proto.Errorf(proto.CodeUnavailable, "the bff did not answer the check of %s; retrying", req.Name)
		}
		return false, err
	}
	return resp.Reserved, nil
}

// push queues a change for the bff. Changes made while disconnected are
// dropped: the snapshot sent on reconnect carries the current state. A
// full queue drops the connection for the same reason.
func (c *Control) push(t proto.Type, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctl == nil {
		return
	}
	select {
	case c.queue <- queued{t, v}:
	default:
		c.log.Warn("control push queue full; reconnecting to resynchronise")
		_ = c.mux.Close()
	}
}

// SessionStarted pushes a session start.
func (c *Control) SessionStarted(si proto.SessionInfo) { c.push(proto.TypeSessionStarted, si) }

// SessionEnded pushes a session end.
func (c *Control) SessionEnded(se proto.SessionEnded) { c.push(proto.TypeSessionEnded, se) }

// TunnelStarted pushes a tunnel start.
func (c *Control) TunnelStarted(ti proto.TunnelInfo) { c.push(proto.TypeTunnelStarted, ti) }

// TunnelEnded pushes a tunnel end.
func (c *Control) TunnelEnded(te proto.TunnelEnded) { c.push(proto.TypeTunnelEnded, te) }
