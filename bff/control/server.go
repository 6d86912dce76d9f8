package control

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/hashicorp/yamux"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Credentials authenticates agents' authtokens.
type Credentials interface {
	Authenticate(ctx context.Context, token string) (credentials.Credential, error)
}

// BindChecker decides whether an account may bind a reserved name in a region. Its errors carry
// the reference's codes (322, 311) as *proto.Error or *httperr.Error.
type BindChecker interface {
	CheckBind(ctx context.Context, accountID, region, protocol, name string) error
}

// Observer hears about session changes (the live dashboard subscribes).
type Observer interface {
	SessionsChanged(accountID string, sessionIDs ...string)
}

// Config tunes the control plane.
type Config struct {
	// Token is the shared secret edges present in their hello.
	Token string
	// BffID identifies this bff process; random when empty.
	BffID string
	// Heartbeat is how often edges send heartbeats.
	Heartbeat time.Duration
	// StaleGrace is how long the sessions of an edge that lost its channel are kept (marked
	// stale) before they are removed.
	StaleGrace time.Duration
}

// Limits checks an account's plan limits (plans.Service): nil when the account may add one more
// of l, otherwise an *httperr.Error with code ERR_EDGEWAY_PLAN_LIMIT whose details hold the
// limit, plan, max and used.
type Limits interface {
	Check(ctx context.Context, accountID string, l plans.Limit) error
}

// Server accepts edges on the control channel and routes commands to them.
type Server struct {
	log    *slog.Logger
	cfg    Config
	store  *Store
	creds  Credentials
	binds  BindChecker
	limits Limits // nil: agent sessions are not limited
	obs    Observer

	relay *relay // nil without a pool (tests of a single replica)

	ipr     IPRestrictions // nil: IP restrictions are not applied to agents and endpoints
	ipReady chan struct{}

	mu    sync.Mutex
	edges map[string]*edgeConn
}

// EnableRelay lets this replica relay commands to, and serve commands from, other bff replicas
// through PostgreSQL (call before Serve).
func (s *Server) EnableRelay(pool *pgxpool.Pool) { s.relay = newRelay(pool, s.cfg.BffID) }

// RelayReady is closed once this replica listens for relayed commands.
func (s *Server) RelayReady() <-chan struct{} { return s.relay.ready }

type edgeConn struct {
	hello proto.EdgeHello
	mux   *yamux.Session

	pushMu sync.Mutex     // orders IP policy pushes; guards ctl
	ctl    *proto.Control // the open control stream, nil before the snapshot
}

// NewServer returns a Server. binds, limits and obs may be nil; limits enforces the plans'
// agent_sessions limit when agents authenticate.
func NewServer(log *slog.Logger, cfg Config, store *Store, creds Credentials, binds BindChecker, limits Limits, obs Observer) *Server {
	if cfg.BffID == "" {
		cfg.BffID = ids.New("bff")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.StaleGrace <= 0 {
		cfg.StaleGrace = 2 * time.Minute
	}
	return &Server{log: log.With("component", "control", "bff_id", cfg.BffID), cfg: cfg, store: store,
		creds: creds, binds: binds, limits: limits, obs: obs, edges: map[string]*edgeConn{}}
}

// BffID identifies this bff process.
func (s *Server) BffID() string { return s.cfg.BffID }

// Serve accepts edge connections on ln until ctx ends, and reaps stale sessions.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go s.reap(ctx)
	if s.ipr != nil && s.relay != nil {
		go s.listenIPChanges(ctx)
	}
	if s.relay != nil {
		go s.relay.listen(ctx, func(ctx context.Context, m relayMsg) error {
			ec := s.edge(m.SessionEdge(ctx, s.store))
			if ec == nil {
				return httperr.New(http.StatusServiceUnavailable, CodeEdgeUnavailable, "The edge holding the session has just disconnected; try again in a few seconds.")
			}
			return s.commandLocal(ctx, ec, m.SessionID, m.Action, m.Reason)
		}, func(err error) { s.log.Warn("command relay lost its connection; reconnecting", "err", err) })
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept edge: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveEdge(ctx, conn)
		}()
	}
}

func (s *Server) serveEdge(ctx context.Context, conn net.Conn) {
	log := s.log.With("remote", conn.RemoteAddr().String())
	mux, err := proto.Server(conn, log)
	if err != nil {
		log.Warn("edge mux", "err", err)
		_ = conn.Close()
		return
	}
	defer mux.Close()
	hello, err := s.hello(ctx, mux)
	if err != nil {
		log.Warn("edge refused", "err", err)
		return
	}
	ec := &edgeConn{hello: hello, mux: mux}
	log = log.With("edge_id", hello.EdgeID, "region", hello.Region)
	s.mu.Lock()
	if old := s.edges[hello.EdgeID]; old != nil {
		_ = old.mux.Close()
	}
	s.edges[hello.EdgeID] = ec
	s.mu.Unlock()
	log.Info("edge connected")

	r := &proto.Router{Log: log}
	proto.On(r, proto.TypeAgentAuth, func(ctx context.Context, req *proto.AgentAuthRequest) (*proto.AgentAuthResponse, error) {
		return s.agentAuth(ctx, ec, req)
	})
	proto.On(r, proto.TypeBindCheck, func(ctx context.Context, req *proto.BindCheckRequest) (*proto.BindCheckResponse, error) {
		return s.bindCheck(ctx, ec, req)
	})
	r.HandleStream(proto.TypeEdgeControl, func(ctx context.Context, f proto.Frame, stream net.Conn) {
		s.controlStream(ctx, ec, f, stream, log)
	})
	_ = r.Serve(ctx, mux)

	s.mu.Lock()
	if s.edges[hello.EdgeID] == ec {
		delete(s.edges, hello.EdgeID)
	}
	s.mu.Unlock()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.EdgeDisconnected(dctx, hello.EdgeID); err != nil {
		log.Warn("record edge disconnect", "err", err)
	}
	log.Info("edge disconnected; its sessions are stale until it returns", "grace", s.cfg.StaleGrace)
}

// hello reads the edge's first call, checks its token and region, and records it.
func (s *Server) hello(ctx context.Context, mux *yamux.Session) (proto.EdgeHello, error) {
	var h proto.EdgeHello
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() { c, err := mux.Accept(); ch <- accepted{c, err} }()
	var stream net.Conn
	select {
	case a := <-ch:
		if a.err != nil {
			return h, a.err
		}
		stream = a.c
	case <-time.After(10 * time.Second):
		return h, errors.New("no hello within 10s")
	case <-ctx.Done():
		return h, ctx.Err()
	}
	defer stream.Close()
	_ = stream.SetDeadline(time.Now().Add(10 * time.Second))
	f, err := proto.ReadFrame(stream, 0)
	if err != nil {
		return h, err
	}
	if err := f.Expect(proto.TypeEdgeHello, &h); err != nil {
		_ = proto.WriteError(stream, proto.Errorf(proto.CodeBadRequest, "the first call must be edge_hello"))
		return h, err
	}
	if s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(h.Token), []byte(s.cfg.Token)) != 1 {
		err := proto.Errorf(proto.CodeAuthFailed, "the edge token is not valid: set the same EDGEWAY_EDGE_TOKEN on the bff and the edge")
		_ = proto.WriteError(stream, err)
		return h, err
	}
	if _, err := region.Parse(h.Region); err != nil {
		perr := proto.Errorf(proto.CodeBadRequest, "region: %v", err)
		_ = proto.WriteError(stream, perr)
		return h, perr
	}
	if h.EdgeID == "" || len(h.EdgeID) > 100 {
		perr := proto.Errorf(proto.CodeBadRequest, "edge_id is required (at most 100 characters)")
		_ = proto.WriteError(stream, perr)
		return h, perr
	}
	if h.Version < proto.MinVersion {
		perr := proto.Errorf(proto.CodeVersionUnsupported, "edge capability version %d is older than %d", h.Version, proto.MinVersion)
		_ = proto.WriteError(stream, perr)
		return h, perr
	}
	if err := s.store.UpsertEdge(ctx, Edge{ID: h.EdgeID, Region: h.Region, HTTPAddr: h.HTTPAddr, HTTPSAddr: h.HTTPSAddr,
		AgentAddr: h.AgentAddr, BaseDomain: h.BaseDomain, TCPPorts: h.TCPPorts}, s.cfg.BffID); err != nil {
		_ = proto.WriteError(stream, proto.Errorf(proto.CodeInternal, "the bff could not record the edge"))
		return h, err
	}
	return h, proto.WriteFrame(stream, proto.TypeEdgeHello, proto.EdgeWelcome{Version: proto.Version,
		BffID: s.cfg.BffID, HeartbeatMillis: s.cfg.Heartbeat.Milliseconds()})
}

// agentAuth decides whether an agent may start a session and mints its id.
func (s *Server) agentAuth(ctx context.Context, ec *edgeConn, req *proto.AgentAuthRequest) (*proto.AgentAuthResponse, error) {
	cred, err := s.creds.Authenticate(ctx, req.Auth.Authtoken)
	if errors.Is(err, credentials.ErrInvalidToken) {
		return nil, proto.Errorf(proto.CodeAuthFailed, "the authtoken is not valid: it may have been revoked. Create one on the dashboard's Authtokens page and run: agent config add-authtoken TOKEN")
	}
	if err != nil {
		s.log.Error("authenticate agent", "err", err)
		return nil, proto.Errorf(proto.CodeInternal, "the bff could not check the authtoken; try again")
	}
	// The account's agent IP restriction (115), on the address the edge saw the socket come from.
	if err := s.agentIPCheck(ctx, cred.AccountID, req.RemoteAddr); err != nil {
		return nil, err
	}
	// The plan's agent_sessions limit. The agent's own sessions (the same client_id: a reconnect
	// whose ghost session the edge replaces) do not count, so an agent at the limit can always
	// come back. The session row is written later by the edge, so two agents authenticating at
	// the same instant may both pass; the next one is refused.
	if s.limits != nil {
		err := s.limits.Check(ctx, cred.AccountID, plans.AgentSessions)
		e, isLimit := httperr.As(err)
		isLimit = isLimit && e.Code == httperr.CodePlanLimit
		if err != nil && !isLimit {
			s.log.Error("check agent session limit", "account_id", cred.AccountID, "err", err)
			return nil, proto.Errorf(proto.CodeInternal, "the bff could not check the plan's agent session limit; try again")
		}
		if isLimit {
			used, okUsed := e.Details["used"].(int)
			max, okMax := e.Details["max"].(int)
			planName, okPlan := e.Details["plan"].(string)
			if !okUsed || !okMax || !okPlan {
				return nil, proto.Errorf(proto.CodeSessionLimit, "%s", e.Msg)
			}
			plan := plans.MustGet(planName)
			if req.Auth.ClientID != "" {
				var own int
				if err := s.store.db.QueryRow(ctx, `select count(*) from tunnel_sessions where account_id = $1 and client_id = $2`,
					cred.AccountID, req.Auth.ClientID).Scan(&own); err != nil {
					s.log.Error("count the agent's own sessions", "account_id", cred.AccountID, "err", err)
					return nil, proto.Errorf(proto.CodeInternal, "the bff could not check the plan's agent session limit; try again")
				}
				used -= own
			}
			if used >= max {
				upgrade := ""
				if next, ok := plans.NextWith(plan.Name, plans.AgentSessions, max); ok {
					upgrade = fmt.Sprintf(", or upgrade to the %s plan (%d) on the dashboard's Billing page", next.Label, next.Limits[plans.AgentSessions])
				}
				perr := proto.Errorf(proto.CodeSessionLimit, "plan limit reached: the %s plan allows %d agent sessions online (limit %s) and the account has %d online. "+
					"Stop an agent first (the dashboard's Agents page lists them)%s", plan.Label, max, plans.AgentSessions, used, upgrade)
				perr.Details = map[string]string{"limit": string(plans.AgentSessions), "plan": plan.Name,
					"max": strconv.Itoa(max), "used": strconv.Itoa(used)}
				s.log.Info("agent refused: session limit", "account_id", cred.AccountID, "plan", plan.Name, "max", max, "used", used)
				return nil, perr
			}
		}
	}
	resp := &proto.AgentAuthResponse{SessionID: ids.New(ids.TunnelSession), AccountID: cred.AccountID,
		CredentialID: cred.ID, ACL: cred.ACL}
	if s.ipr != nil {
		// The edge holds the account's endpoint restriction before the session binds anything.
		set, err := s.endpointPolicy(ctx, cred.AccountID)
		if err != nil {
			s.log.Error("read endpoint ip restriction", "account_id", cred.AccountID, "err", err)
			return nil, proto.Errorf(proto.CodeInternal, "the bff could not read the account's endpoint IP restriction; try again")
		}
		resp.IPPolicy = &set
	}
	return resp, nil
}

// bindCheck applies the account's reservations to a requested name.
func (s *Server) bindCheck(ctx context.Context, ec *edgeConn, req *proto.BindCheckRequest) (*proto.BindCheckResponse, error) {
	if s.binds == nil {
		return &proto.BindCheckResponse{}, nil
	}
	if err := s.binds.CheckBind(ctx, req.AccountID, ec.hello.Region, req.Proto, strings.ToLower(req.Name)); err != nil {
		return nil, toProto(err)
	}
	return &proto.BindCheckResponse{Reserved: true}, nil
}

// controlStream applies the edge's snapshot, then its pushes, until the stream ends.
func (s *Server) controlStream(ctx context.Context, ec *edgeConn, f proto.Frame, stream net.Conn, log *slog.Logger) {
	defer stream.Close()
	edgeID, reg := ec.hello.EdgeID, ec.hello.Region
	var snap proto.EdgeSnapshot
	if err := f.Decode(&snap); err != nil {
		log.Warn("bad snapshot", "err", err)
		return
	}
	sessions := make([]Session, 0, len(snap.Sessions))
	for _, si := range snap.Sessions {
		sessions = append(sessions, sessionOf(edgeID, reg, si))
	}
	tunnels := make([]Tunnel, 0, len(snap.Tunnels))
	for _, ti := range snap.Tunnels {
		tunnels = append(tunnels, tunnelOf(reg, ti))
	}
	gone, err := s.store.Reconcile(ctx, edgeID, sessions, tunnels)
	if err != nil {
		log.Error("reconcile edge", "err", err)
		return
	}
	log.Info("edge reconciled", "sessions", len(snap.Sessions), "tunnels", len(snap.Tunnels), "removed", len(gone))
	s.notifyAll(snap, gone)

	ctl := proto.NewControl(stream, log)
	if s.ipr != nil {
		ec.pushMu.Lock()
		ec.ctl = ctl
		ec.pushMu.Unlock()
		// Replace the edge's endpoint restrictions with those of the accounts it serves: changes
		// made while it was away are in force now.
		if err := s.pushIPPolicies(ctx, ec, true, edgeAccounts(snap)); err != nil {
			log.Error("push endpoint ip restrictions", "err", err)
			return
		}
	}
	ctl.Handle(proto.TypeSessionStarted, func(ctx context.Context, f proto.Frame) error {
		var si proto.SessionInfo
		if err := f.Decode(&si); err != nil {
			return err
		}
		if err := s.store.SessionStarted(ctx, sessionOf(edgeID, reg, si)); err != nil {
			log.Error("record session", "session_id", si.ID, "err", err)
			return nil
		}
		s.notify(si.AccountID, si.ID)
		// The credential may have been revoked between the agent's sign-in and this report (the
		// revocation found no session to end then): end the session now.
		if gone, err := s.store.CredentialGone(ctx, si.CredentialID); err == nil && gone {
			go s.revoke(context.WithoutCancel(ctx), ec, si.ID)
		}
		return nil
	})
	ctl.Handle(proto.TypeSessionEnded, func(ctx context.Context, f proto.Frame) error {
		var se proto.SessionEnded
		if err := f.Decode(&se); err != nil {
			return err
		}
		sess, err := s.store.SessionEnded(ctx, se.ID, se.Error)
		if err != nil {
			log.Error("record session end", "session_id", se.ID, "err", err)
		} else if sess != nil {
			s.notify(sess.AccountID, se.ID)
		}
		return nil
	})
	ctl.Handle(proto.TypeTunnelStarted, func(ctx context.Context, f proto.Frame) error {
		var ti proto.TunnelInfo
		if err := f.Decode(&ti); err != nil {
			return err
		}
		if err := s.store.TunnelStarted(ctx, tunnelOf(reg, ti)); err != nil {
			log.Error("record tunnel", "tunnel_id", ti.ID, "err", err)
		}
		s.notifySession(ctx, ti.SessionID)
		return nil
	})
	ctl.Handle(proto.TypeTunnelEnded, func(ctx context.Context, f proto.Frame) error {
		var te proto.TunnelEnded
		if err := f.Decode(&te); err != nil {
			return err
		}
		if err := s.store.TunnelEnded(ctx, te.ID); err != nil {
			log.Error("record tunnel end", "tunnel_id", te.ID, "err", err)
		}
		s.notifySession(ctx, te.SessionID)
		return nil
	})
	ctl.Handle(proto.TypeEdgeHeartbeat, func(ctx context.Context, f proto.Frame) error {
		if err := s.store.EdgeSeen(ctx, edgeID); err != nil {
			log.Warn("record heartbeat", "err", err)
		}
		return ctl.Send(proto.TypeEdgeHeartbeat, proto.Heartbeat{SentUnixNano: time.Now().UnixNano()})
	})
	if err := ctl.Run(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("edge control stream ended", "err", err)
	}
}

func sessionOf(edgeID, reg string, si proto.SessionInfo) Session {
	return Session{ID: si.ID, AccountID: si.AccountID, CredentialID: si.CredentialID, EdgeID: edgeID, Region: reg,
		ClientID: si.ClientID, AgentVersion: si.AgentVersion, OS: si.OS, Arch: si.Arch, Hostname: si.Hostname,
		Metadata: si.Metadata, IP: IPOf(si.RemoteAddr), Transport: si.Transport, RemoteManagement: si.RemoteManagement,
		StartedAt: time.UnixMilli(si.StartedUnixMilli)}
}

func tunnelOf(reg string, ti proto.TunnelInfo) Tunnel {
	return Tunnel{ID: ti.ID, SessionID: ti.SessionID, Region: reg, Proto: ti.Proto, PublicURL: ti.PublicURL,
		ForwardsTo: ti.ForwardsTo, Metadata: ti.Metadata, StartedAt: time.UnixMilli(ti.StartedUnixMilli)}
}

func (s *Server) notify(accountID string, sessionIDs ...string) {
	if s.obs != nil && accountID != "" {
		s.obs.SessionsChanged(accountID, sessionIDs...)
	}
}

func (s *Server) notifySession(ctx context.Context, sessionID string) {
	if s.obs == nil {
		return
	}
	var account string
	if err := s.store.db.QueryRow(ctx, `select account_id from tunnel_sessions where id = $1`, sessionID).Scan(&account); err == nil {
		s.notify(account, sessionID)
	}
}

func (s *Server) notifyAll(snap proto.EdgeSnapshot, gone []string) {
	for _, si := range snap.Sessions {
		s.notify(si.AccountID, si.ID)
	}
	_ = gone // removed rows no longer name their account; live views resync on their own
}

// reap removes sessions of edges that have been gone longer than the grace period.
func (s *Server) reap(ctx context.Context) {
	every := s.cfg.StaleGrace / 4
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gone, err := s.store.Reap(ctx, s.cfg.StaleGrace)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reap stale sessions", "err", err)
		} else if len(gone) > 0 {
			s.log.Info("removed stale sessions", "count", len(gone))
		}
	}
}

// edge returns the connection of an edge held by this bff.
func (s *Server) edge(edgeID string) *edgeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.edges[edgeID]
}

// ConnectedEdges returns the hellos of the edges connected to this bff.
func (s *Server) ConnectedEdges() []proto.EdgeHello {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]proto.EdgeHello, 0, len(s.edges))
	for _, ec := range s.edges {
		h := ec.hello
		h.Token = ""
		out = append(out, h)
	}
	return out
}
