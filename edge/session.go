package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/proto"
)

// session is one authenticated agent connection.
type session struct {
	srv      *Server
	id       string
	clientID string
	grant    Grant
	hello    proto.AuthRequest
	remote   string
	started  time.Time
	mux      *yamux.Session
	log      *slog.Logger

	mu        sync.Mutex
	ctrl      *proto.Control
	ctrlReady chan struct{}                // closed once ctrl is set
	reason    string                       // why the edge ended the session, if it did
	pending   map[string]chan *proto.Error // command id -> result
	tunnels   map[string]*tunnel
	closed    bool
}

// tunnel is one binding of a session.
type tunnel struct {
	id         string
	sess       *session
	ep         *endpoint
	proto      string
	publicURL  string
	httpsURL   string
	forwardsTo string
	metadata   string
	started    time.Time
	header     []byte   // encoded proxy header frame without client address
	pool       connPool // idle HTTP proxy streams (HTTP only)
}

// endpoint is a public hostname or TCP port and the tunnels serving it
// (more than one only with pooling).
type endpoint struct {
	key     string // host (HTTP) or "tcp:port"
	proto   string
	host    string
	port    int
	ln      net.Listener // TCP only
	pooling bool
	tunnels []*tunnel // copy-on-write under Server.mu
	next    atomic.Uint64
}

// pick returns the next tunnel, round robin; callers hold Server.mu for
// reading.
func (ep *endpoint) pick() *tunnel {
	switch n := len(ep.tunnels); n {
	case 0:
		return nil
	case 1:
		return ep.tunnels[0]
	default:
		return ep.tunnels[ep.next.Add(1)%uint64(n)]
	}
}

// httpKey is the endpoints key of an HTTP host: the host itself (no
// allocation on the request path); TCP keys start with "tcp:", which no
// host name does.
func httpKey(host string) string { return host }

// open opens a proxy stream to the tunnel's agent and writes its header.
// The returned connection reports agent-side failures on its first Read.
func (t *tunnel) open(ctx context.Context, clientAddr string) (net.Conn, error) {
	stream, err := t.sess.mux.OpenStream()
	if err != nil {
		if errors.Is(err, yamux.ErrSessionShutdown) {
			return nil, errTunnelGone
		}
		return nil, err
	}
	hdr := t.header
	if clientAddr != "" {
		hdr = encodeProxyHeader(t.id, t.proto, clientAddr)
	}
	if _, err := stream.Write(hdr); err != nil {
		_ = stream.Close()
		return nil, err
	}
	return proto.NewAckedStream(stream), nil
}

func encodeProxyHeader(id, protocol, clientAddr string) []byte {
	// Hand-rolled JSON: ids and protocols are plain ASCII; the address is
	// quoted safely by quoteJSON.
	b := make([]byte, 0, proto.HeaderSize+64+len(clientAddr))
	body := `{"tunnel_id":` + quoteJSON(id) + `,"proto":` + quoteJSON(protocol)
	if clientAddr != "" {
		body += `,"client_addr":` + quoteJSON(clientAddr)
	}
	body += "}"
	return proto.AppendFrame(b, proto.TypeProxy, []byte(body))
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// accept returns ln's next connection. Failures other than a closed
// listener (out of file descriptors and the like) are logged and waited
// out with a growing pause, as net/http does, rather than ending the
// accept loop or spinning.
func (s *Server) accept(ln net.Listener, what string) (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return c, err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		s.log.Warn("accept "+what, slog.Any("err", err), slog.Duration("retry_in", delay))
		time.Sleep(delay)
	}
}

func (s *Server) acceptAgents() {
	defer s.agentWG.Done()
	for {
		conn, err := s.accept(s.agentLn, "agent")
		if err != nil {
			return
		}
		s.agentWG.Add(1)
		go func() {
			defer s.agentWG.Done()
			s.handleAgent(conn)
		}()
	}
}

// handleAgent runs one agent connection from handshake to close.
func (s *Server) handleAgent(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	log := s.log.With(slog.String("agent_addr", remote))
	deadline := time.Now().Add(s.cfg.HandshakeTimeout)
	_ = conn.SetDeadline(deadline)
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	var transport net.Conn
	if s.agentTLS != nil {
		tc, tr := proto.TLSTransport(conn, func(c net.Conn) *tls.Conn { return tls.Server(c, s.agentTLS) })
		hctx, cancel := context.WithDeadline(s.baseCtx, deadline)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Debug("agent tls handshake failed", slog.Any("err", err))
			s.m.authFailures.Inc()
			_ = conn.Close()
			return
		}
		transport = tr
	} else {
		transport = conn // yamux writes frames with writev and splices on a *net.TCPConn
	}
	mux, err := proto.Server(transport, log)
	if err != nil {
		_ = conn.Close()
		return
	}
	sess, err := s.handshake(mux, remote, deadline, log)
	if errors.Is(err, errProbeOnly) {
		_ = mux.Close()
		return
	}
	if err != nil {
		s.m.authFailures.Inc()
		log.Info("agent refused", slog.Any("err", err))
		// Let the agent read the error and hang up first.
		select {
		case <-mux.CloseChan():
		case <-time.After(time.Second):
		}
		_ = mux.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	sess.serve()
}

// handshake accepts the first stream, which must be an auth call, and
// registers the session.
func (s *Server) handshake(mux *yamux.Session, remote string, deadline time.Time, log *slog.Logger) (*session, error) {
	ctx, cancel := context.WithDeadline(s.baseCtx, deadline)
	defer cancel()
	var (
		stream net.Conn
		f      proto.Frame
	)
	// Probes may precede auth: answer a few, then insist on auth.
	for probes := 0; ; probes++ {
		st, err := mux.AcceptStreamWithContext(ctx)
		if err != nil {
			if probes > 0 {
				return nil, errProbeOnly
			}
			return nil, errors.New("no auth stream before the handshake timeout")
		}
		stream = st
		f, err = proto.ReadFrame(stream, 0)
		if err != nil {
			_ = proto.WriteError(stream, err)
			_ = stream.Close()
			return nil, err
		}
		if f.Type != proto.TypeProbe || probes >= maxProbes {
			break
		}
		s.addedLatency()
		_ = proto.WriteFrame(stream, proto.TypeProbe, proto.ProbeResponse{Region: string(s.cfg.Region), Version: proto.Version})
		_ = stream.Close()
	}
	defer stream.Close()
	fail := func(e *proto.Error) (*session, error) {
		_ = proto.WriteError(stream, e)
		return nil, e
	}
	s.addedLatency()
	if f.Type != proto.TypeAuth {
		return fail(proto.Errorf(proto.CodeNotAuthenticated, "the first stream must authenticate, got %s", f.Type))
	}
	var req proto.AuthRequest
	if err := f.Decode(&req); err != nil {
		_ = proto.WriteError(stream, err)
		return nil, err
	}
	if req.Version < proto.MinVersion {
		return fail(proto.Errorf(proto.CodeVersionUnsupported, "agent protocol version %d is too old; this edge needs %d or newer, please upgrade the agent", req.Version, proto.MinVersion))
	}
	if len(req.Metadata) > 4096 || len(req.ClientID) > 128 {
		return fail(proto.Errorf(proto.CodeBadRequest, "metadata is limited to 4096 bytes and client_id to 128"))
	}
	if s.isDraining() {
		return fail(proto.Errorf(proto.CodeDraining, "this edge is shutting down; reconnect shortly"))
	}
	grant, err := s.auth.Authenticate(ctx, AuthRequest{Auth: req, RemoteAddr: remote})
	if err != nil {
		var pe *proto.Error
		if errors.As(err, &pe) {
			return fail(pe)
		}
		log.Error("authenticate agent", slog.Any("err", err))
		return fail(proto.Errorf(proto.CodeInternal, "authentication is unavailable right now; retrying"))
	}
	if grant.SessionID == "" {
		grant.SessionID = ids.New(ids.TunnelSession)
	}
	sess := &session{
		srv:       s,
		id:        grant.SessionID,
		clientID:  req.ClientID,
		grant:     grant,
		hello:     req,
		remote:    remote,
		started:   time.Now(),
		mux:       mux,
		tunnels:   make(map[string]*tunnel),
		ctrlReady: make(chan struct{}),
		log:       log.With(slog.String("session_id", grant.SessionID), slog.String("account_id", grant.AccountID)),
	}
	if err := s.register(sess); err != nil {
		return fail(proto.Errorf(proto.CodeDraining, "this edge is shutting down; reconnect shortly"))
	}
	resp := proto.AuthResponse{
		Version:         proto.Version,
		SessionID:       sess.id,
		Region:          string(s.cfg.Region),
		HeartbeatMillis: s.cfg.HeartbeatInterval.Milliseconds(),
	}
	if err := proto.WriteFrame(stream, proto.TypeAuth, resp); err != nil {
		s.unregister(sess)
		return nil, err
	}
	sess.log.Info("agent session started",
		slog.String("client_id", req.ClientID), slog.String("os", req.OS), slog.String("agent_version", req.AgentVersion))
	if s.observer != nil {
		s.observer.SessionStarted(sess.info())
	}
	return sess, nil
}

// errProbeOnly ends a connection that only probed, which is normal.
var errProbeOnly = errors.New("probe only")

// maxProbes is how many probe calls an agent connection may make before
// it must authenticate.
const maxProbes = 8

// addedLatency sleeps for Config.AddedLatency (tests simulating a distant
// region).
func (s *Server) addedLatency() {
	if s.cfg.AddedLatency > 0 {
		time.Sleep(s.cfg.AddedLatency)
	}
}

func (s *Server) isDraining() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.draining
}

// register adds sess, first replacing a ghost session of the same agent
// process (same client id) so its names are free at once.
func (s *Server) register(sess *session) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errors.New("draining")
	}
	var ghost *session
	if sess.clientID != "" {
		ghost = s.clients[sess.clientID]
		s.clients[sess.clientID] = sess
	}
	if ghost != nil {
		s.removeSessionLocked(ghost)
	}
	s.sessions[sess.id] = sess
	s.m.sessions.Set(float64(len(s.sessions)))
	s.mu.Unlock()
	if ghost != nil {
		ghost.log.Info("agent session replaced by its reconnecting agent", slog.String("new_session_id", sess.id))
		ghost.close()
	}
	return nil
}

// unregister removes sess and its tunnels.
func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	s.removeSessionLocked(sess)
	s.mu.Unlock()
}

func (s *Server) removeSessionLocked(sess *session) {
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	if sess.clientID != "" && s.clients[sess.clientID] == sess {
		delete(s.clients, sess.clientID)
	}
	sess.mu.Lock()
	ts := make([]*tunnel, 0, len(sess.tunnels))
	for _, t := range sess.tunnels {
		ts = append(ts, t)
	}
	clear(sess.tunnels)
	sess.mu.Unlock()
	for _, t := range ts {
		s.removeTunnelLocked(t)
	}
	s.m.sessions.Set(float64(len(s.sessions)))
}

// serve runs the session until the agent goes away or it is closed.
func (ss *session) serve() {
	s := ss.srv
	var r proto.Router
	r.Log = ss.log
	r.HeaderTimeout = s.cfg.HandshakeTimeout
	proto.On(&r, proto.TypeBind, ss.bind)
	proto.On(&r, proto.TypeUnbind, ss.unbind)
	r.HandleStream(proto.TypeControl, ss.control)
	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()
	_ = r.Serve(ctx, ss.mux)
	s.unregister(ss)
	ss.close()
	if s.observer != nil {
		s.observer.SessionEnded(proto.SessionEnded{ID: ss.id, Error: ss.endReason()})
	}
	ss.log.Info("agent session ended", slog.Duration("duration", time.Since(ss.started).Round(time.Millisecond)))
}

// close ends the session's connection; serve then cleans up.
func (ss *session) close() {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
	_ = ss.mux.Close()
}

// closeWithReason records why the edge ends the session, then closes it.
func (ss *session) closeWithReason(reason string) {
	ss.mu.Lock()
	if ss.reason == "" {
		ss.reason = reason
	}
	ss.mu.Unlock()
	ss.close()
}

func (ss *session) endReason() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.reason
}

// info describes the session for the bff.
func (ss *session) info() proto.SessionInfo {
	transport := "tcp"
	if ss.srv.agentTLS != nil {
		transport = "tls"
	}
	return proto.SessionInfo{
		ID: ss.id, AccountID: ss.grant.AccountID, CredentialID: ss.grant.CredentialID, ClientID: ss.clientID,
		AgentVersion: ss.hello.AgentVersion, OS: ss.hello.OS, Arch: ss.hello.Arch, Metadata: ss.hello.Metadata,
		Hostname:   ss.hello.Hostname,
		RemoteAddr: ss.remote, Transport: transport, RemoteManagement: ss.hello.RemoteManagement,
		StartedUnixMilli: ss.started.UnixMilli(),
	}
}

// info describes the tunnel for the bff.
func (t *tunnel) info() proto.TunnelInfo {
	return proto.TunnelInfo{ID: t.id, SessionID: t.sess.id, Proto: t.proto, PublicURL: t.publicURL,
		ForwardsTo: t.forwardsTo, Metadata: t.metadata, StartedUnixMilli: t.started.UnixMilli()}
}

// Snapshot describes every live session and tunnel, for the bff to
// reconcile with.
func (s *Server) Snapshot() proto.EdgeSnapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := proto.EdgeSnapshot{Sessions: []proto.SessionInfo{}, Tunnels: []proto.TunnelInfo{}}
	for _, ss := range s.sessions {
		snap.Sessions = append(snap.Sessions, ss.info())
		ss.mu.Lock()
		for _, t := range ss.tunnels {
			snap.Tunnels = append(snap.Tunnels, t.info())
		}
		ss.mu.Unlock()
	}
	return snap
}

// RevokeSession ends session id whatever the agent's settings (its
// credential was revoked), telling the agent why first.
func (s *Server) RevokeSession(ctx context.Context, id, reason string) error {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return proto.Errorf(proto.CodeSessionNotFound, "agent session %s is not connected to region %s", id, s.cfg.Region)
	}
	if reason == "" {
		reason = "the session's authtoken was revoked"
	}
	ss.push(proto.TypeStop, proto.Command{ID: NewID("cmd_"), Reason: reason})
	// Give the agent a moment to read why, then end the session anyway.
	select {
	case <-ss.mux.CloseChan():
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
	ss.closeWithReason("revoked: " + reason)
	return nil
}

// control serves the session's long-lived control stream.
func (ss *session) control(ctx context.Context, _ proto.Frame, stream net.Conn) {
	c := proto.NewControl(stream, ss.log)
	// A session whose agent misses three heartbeats in a row is dead.
	c.ReadTimeout = 3 * ss.srv.cfg.HeartbeatInterval
	ss.mu.Lock()
	if ss.ctrl != nil {
		ss.mu.Unlock()
		_ = proto.WriteError(stream, proto.Errorf(proto.CodeBadRequest, "the control stream is already open"))
		_ = stream.Close()
		return
	}
	ss.ctrl = c
	close(ss.ctrlReady)
	ss.mu.Unlock()
	c.Handle(proto.TypeHeartbeat, func(_ context.Context, f proto.Frame) error {
		var hb proto.Heartbeat
		if err := f.Decode(&hb); err != nil {
			return err
		}
		return c.Send(proto.TypeHeartbeat, hb)
	})
	c.Handle(proto.TypeCommandResult, func(_ context.Context, f proto.Frame) error {
		var res proto.CommandResult
		if err := f.Decode(&res); err != nil {
			return err
		}
		if res.Error != nil {
			ss.log.Info("agent refused command", slog.String("command_id", res.ID), slog.String("code", res.Error.Code))
		} else {
			ss.log.Info("agent accepted command", slog.String("command_id", res.ID))
		}
		ss.mu.Lock()
		ch := ss.pending[res.ID]
		ss.mu.Unlock()
		if ch != nil {
			ch <- res.Error // buffered; one result per command
		}
		return nil
	})
	err := c.Run(ctx)
	ss.log.Debug("control stream ended", slog.Any("err", err))
	// Without its control stream the session cannot be managed: end it.
	ss.close()
}

// push sends a control message if the control stream is open.
func (ss *session) push(t proto.Type, v any) bool {
	ss.mu.Lock()
	c := ss.ctrl
	ss.mu.Unlock()
	if c == nil {
		return false
	}
	return c.Send(t, v) == nil
}

// StopSession asks the agent of session id to stop (it exits), showing
// reason to its user, and waits until the agent accepts or the session
// ends. It fails with CodeSessionNotFound when the session is not on this
// edge and CodeRemoteManagementDisabled when the agent refuses.
func (s *Server) StopSession(ctx context.Context, id, reason string) error {
	return s.command(ctx, id, proto.TypeStop, reason)
}

// RestartSession asks the agent of session id to restart itself (it comes
// back with a new session id); see StopSession for the results.
func (s *Server) RestartSession(ctx context.Context, id, reason string) error {
	return s.command(ctx, id, proto.TypeRestart, reason)
}

func (s *Server) command(ctx context.Context, id string, t proto.Type, reason string) error {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return proto.Errorf(proto.CodeSessionNotFound, "agent session %s is not connected to region %s", id, s.cfg.Region)
	}
	// The agent opens its control stream right after auth; a command
	// racing a brand-new session waits for it.
	select {
	case <-ss.ctrlReady:
	case <-ss.mux.CloseChan():
		return proto.Errorf(proto.CodeSessionNotFound, "agent session %s just ended", id)
	case <-ctx.Done():
		return ctx.Err()
	}
	cmdID := NewID("cmd_")
	result := make(chan *proto.Error, 1)
	ss.mu.Lock()
	if ss.pending == nil {
		ss.pending = make(map[string]chan *proto.Error)
	}
	ss.pending[cmdID] = result
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		delete(ss.pending, cmdID)
		ss.mu.Unlock()
	}()
	ss.log.Info("sending command to agent", slog.String("command", t.String()), slog.String("command_id", cmdID), slog.String("reason", reason))
	// A send error is not decisive: the agent may act and hang up before
	// the write is confirmed. The session ending settles it.
	_ = ss.push(t, proto.Command{ID: cmdID, Reason: reason})
	select {
	case e := <-result:
		if e != nil {
			return e
		}
		return nil
	case <-ss.mux.CloseChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SessionInfo describes a live agent session.
type SessionInfo struct {
	ID           string
	AccountID    string
	CredentialID string
	RemoteAddr   string
	OS, Arch     string
	AgentVersion string
	StartedAt    time.Time
	PublicURLs   []string
}

// Sessions lists the live agent sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, ss := range s.sessions {
		info := SessionInfo{
			ID: ss.id, AccountID: ss.grant.AccountID, CredentialID: ss.grant.CredentialID,
			RemoteAddr: ss.remote, OS: ss.hello.OS, Arch: ss.hello.Arch, AgentVersion: ss.hello.AgentVersion,
			StartedAt: ss.started,
		}
		ss.mu.Lock()
		for _, t := range ss.tunnels {
			info.PublicURLs = append(info.PublicURLs, t.publicURL)
		}
		ss.mu.Unlock()
		out = append(out, info)
	}
	return out
}
