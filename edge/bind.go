package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/proto"
)

// bind serves a BindRequest: it creates (or, with pooling, joins) an HTTP
// endpoint or a TCP address for the session.
func (ss *session) bind(ctx context.Context, req *proto.BindRequest) (*proto.BindResponse, error) {
	s := ss.srv
	if len(req.Metadata) > 4096 || len(req.ForwardsTo) > 1024 || len(req.Name) > 256 {
		return nil, proto.Errorf(proto.CodeBadRequest, "metadata is limited to 4096 bytes, forwards_to to 1024 and name to 256")
	}
	var (
		t   *tunnel
		err error
	)
	switch req.Proto {
	case proto.ProtoHTTP:
		t, err = ss.bindHTTP(ctx, req)
	case proto.ProtoTCP:
		t, err = ss.bindTCP(ctx, req)
	default:
		return nil, proto.Errorf(proto.CodeBadRequest, "unknown tunnel protocol %q; use http or tcp", req.Proto)
	}
	if err != nil {
		return nil, err
	}
	ss.log.Info("tunnel bound", slog.String("tunnel_id", t.id), slog.String("public_url", t.publicURL),
		slog.String("forwards_to", t.forwardsTo))
	s.m.tunnels.WithLabelValues(t.proto).Inc()
	if s.observer != nil {
		s.observer.TunnelStarted(t.info())
	}
	return &proto.BindResponse{TunnelID: t.id, Proto: t.proto, PublicURL: t.publicURL, HTTPSURL: t.httpsURL}, nil
}

func (ss *session) newTunnel(protocol string, req *proto.BindRequest) *tunnel {
	id := ids.New(ids.Tunnel)
	return &tunnel{
		started:    time.Now(),
		metadata:   req.Metadata,
		id:         id,
		sess:       ss,
		proto:      protocol,
		forwardsTo: req.ForwardsTo,
		header:     encodeProxyHeader(id, protocol, ""),
	}
}

func (ss *session) bindHTTP(ctx context.Context, req *proto.BindRequest) (*tunnel, error) {
	s := ss.srv
	base := s.cfg.BaseDomain
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(req.Domain), "."))
	random := host == ""
	switch {
	case random:
	case !strings.Contains(host, "."):
		if !validLabel(host) {
			return nil, proto.Errorf(proto.CodeDomainInvalid, "%q is not a valid subdomain: use lower-case letters, digits and inner hyphens, at most 63 characters", req.Domain)
		}
		host += "." + base
	default:
		if validDomain(host) != nil {
			return nil, proto.Errorf(proto.CodeDomainInvalid, "%q is not a valid domain name", req.Domain)
		}
	}
	underBase := strings.HasSuffix(host, "."+base) && !strings.Contains(strings.TrimSuffix(host, "."+base), ".")
	if !random && !ss.allowed(host) {
		return nil, proto.Errorf(proto.CodeBindDenied, "this authtoken may not bind %s (its ACL allows %s)", host, strings.Join(ss.grant.ACL, ", "))
	}
	if !random {
		reserved, err := ss.checkBind(ctx, proto.ProtoHTTP, host)
		if err != nil {
			return nil, err
		}
		// Names outside the base domain must be reserved domains.
		if !underBase && !reserved {
			return nil, proto.Errorf(proto.CodeDomainInvalid,
				"domain %s is not served by this edge: region %s serves NAME.%s and the account's reserved domains", host, s.cfg.Region, base)
		}
	}
	t := ss.newTunnel(proto.ProtoHTTP, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, proto.Errorf(proto.CodeDraining, "this edge is shutting down")
	}
	if ss.isClosed() {
		return nil, proto.Errorf(proto.CodeTunnelNotFound, "the session ended")
	}
	if random {
		for i := 0; ; i++ {
			host = randomLabel() + "." + base
			if s.endpoints[httpKey(host)] == nil {
				break
			}
			if i > 100 {
				return nil, proto.Errorf(proto.CodeInternal, "could not pick a free random subdomain")
			}
		}
		if !ss.allowed(host) {
			return nil, proto.Errorf(proto.CodeBindDenied, "this authtoken may only bind %s; ask for one of those domains", strings.Join(ss.grant.ACL, ", "))
		}
	}
	key := httpKey(host)
	ep := s.endpoints[key]
	if ep != nil && !(ep.pooling && req.Pooling) {
		return nil, proto.Errorf(proto.CodeEndpointOnline,
			"endpoint %s is already online; stop the other agent, or start both with pooling enabled to share it", host)
	}
	if ep == nil {
		ep = &endpoint{key: key, proto: proto.ProtoHTTP, host: host, pooling: req.Pooling}
		s.endpoints[key] = ep
	}
	t.ep = ep
	t.publicURL = publicURL("http", host, s.httpPort)
	if s.httpsLn != nil {
		t.httpsURL = publicURL("https", host, s.httpsPort)
	}
	s.addTunnelLocked(t)
	return t, nil
}

func (ss *session) bindTCP(ctx context.Context, req *proto.BindRequest) (*tunnel, error) {
	s := ss.srv
	r := s.cfg.TCPPorts
	if r.Empty() {
		return nil, proto.Errorf(proto.CodePortOutOfRange, "region %s serves no TCP addresses", s.cfg.Region)
	}
	want := 0
	if req.RemoteAddr != "" {
		host, portStr, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			portStr, host = req.RemoteAddr, ""
		}
		p, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, proto.Errorf(proto.CodeBadRequest, "remote address %q: want HOST:PORT or :PORT", req.RemoteAddr)
		}
		if host != "" && !strings.EqualFold(host, s.cfg.PublicHost) && host != s.cfg.TCPHost {
			return nil, proto.Errorf(proto.CodeBadRequest, "remote address %q: this edge serves TCP on %s", req.RemoteAddr, s.cfg.PublicHost)
		}
		if !r.Contains(p) {
			return nil, proto.Errorf(proto.CodePortOutOfRange, "port %d is outside region %s's TCP port range %s", p, s.cfg.Region, r)
		}
		want = p
		if _, err := ss.checkBind(ctx, proto.ProtoTCP, net.JoinHostPort(s.cfg.PublicHost, strconv.Itoa(p))); err != nil {
			return nil, err
		}
	}
	t := ss.newTunnel(proto.ProtoTCP, req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, proto.Errorf(proto.CodeDraining, "this edge is shutting down")
	}
	if ss.isClosed() {
		return nil, proto.Errorf(proto.CodeTunnelNotFound, "the session ended")
	}
	var ep *endpoint
	if want != 0 {
		addr := net.JoinHostPort(s.cfg.PublicHost, strconv.Itoa(want))
		if !ss.allowed(addr) {
			return nil, proto.Errorf(proto.CodeBindDenied, "this authtoken may not bind %s", addr)
		}
		ep = s.endpoints[tcpKey(want)]
		if ep != nil && !(ep.pooling && req.Pooling) {
			return nil, proto.Errorf(proto.CodeEndpointOnline,
				"address %s is already online; stop the other agent, or start both with pooling enabled to share it", addr)
		}
		if ep == nil {
			ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.TCPHost, strconv.Itoa(want)))
			if err != nil {
				return nil, proto.Errorf(proto.CodeEndpointOnline, "port %d is in use on this edge", want)
			}
			ep = s.newTCPEndpointLocked(want, ln, req.Pooling)
		}
	} else {
		if len(ss.grant.ACL) > 0 {
			return nil, proto.Errorf(proto.CodeBindDenied, "this authtoken may only bind %s; ask for one of those addresses", strings.Join(ss.grant.ACL, ", "))
		}
		start := randIntn(r.Size())
		for i := 0; i < r.Size() && ep == nil; i++ {
			p := r.Min + (start+i)%r.Size()
			if s.endpoints[tcpKey(p)] != nil {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.TCPHost, strconv.Itoa(p)))
			if err != nil {
				continue
			}
			ep = s.newTCPEndpointLocked(p, ln, req.Pooling)
		}
		if ep == nil {
			return nil, proto.Errorf(proto.CodeNoPortsFree, "every TCP port of region %s (%s) is in use", s.cfg.Region, r)
		}
	}
	t.ep = ep
	t.publicURL = "tcp://" + net.JoinHostPort(s.cfg.PublicHost, strconv.Itoa(ep.port))
	s.addTunnelLocked(t)
	return t, nil
}

func tcpKey(port int) string { return "tcp:" + strconv.Itoa(port) }

// checkBind asks the BindChecker, if any, about an explicitly requested
// name, and reports whether the session's account reserved it.
func (ss *session) checkBind(ctx context.Context, protocol, name string) (reserved bool, err error) {
	s := ss.srv
	if s.binds == nil {
		return false, nil
	}
	return s.binds.CheckBind(ctx, proto.BindCheckRequest{
		AccountID: ss.grant.AccountID, SessionID: ss.id, Proto: protocol, Name: name,
	})
}

// newTCPEndpointLocked registers a TCP endpoint and starts accepting on ln.
func (s *Server) newTCPEndpointLocked(port int, ln net.Listener, pooling bool) *endpoint {
	ep := &endpoint{key: tcpKey(port), proto: proto.ProtoTCP, port: port, ln: ln, pooling: pooling}
	s.endpoints[ep.key] = ep
	s.publicWG.Add(1)
	go s.acceptTCP(ep)
	return ep
}

func (s *Server) addTunnelLocked(t *tunnel) {
	ep := t.ep
	ts := make([]*tunnel, len(ep.tunnels), len(ep.tunnels)+1)
	copy(ts, ep.tunnels)
	ep.tunnels = append(ts, t)
	t.sess.mu.Lock()
	t.sess.tunnels[t.id] = t
	t.sess.mu.Unlock()
}

// removeTunnelLocked detaches t from its endpoint, closing the endpoint
// when it was the last tunnel. The caller holds s.mu and has removed t
// from its session's map.
func (s *Server) removeTunnelLocked(t *tunnel) {
	ep := t.ep
	ts := make([]*tunnel, 0, len(ep.tunnels))
	for _, x := range ep.tunnels {
		if x != t {
			ts = append(ts, x)
		}
	}
	if len(ts) == len(ep.tunnels) {
		return
	}
	ep.tunnels = ts
	t.pool.close()
	s.m.tunnels.WithLabelValues(t.proto).Dec()
	if len(ts) == 0 {
		delete(s.endpoints, ep.key)
		if ep.ln != nil {
			_ = ep.ln.Close()
		}
	}
}

// unbind serves an UnbindRequest.
func (ss *session) unbind(_ context.Context, req *proto.UnbindRequest) (*proto.UnbindResponse, error) {
	s := ss.srv
	ss.mu.Lock()
	t := ss.tunnels[req.TunnelID]
	delete(ss.tunnels, req.TunnelID)
	ss.mu.Unlock()
	if t == nil {
		return nil, proto.Errorf(proto.CodeTunnelNotFound, "tunnel %q is not bound in this session", req.TunnelID)
	}
	s.mu.Lock()
	s.removeTunnelLocked(t)
	s.mu.Unlock()
	ss.log.Info("tunnel unbound", slog.String("tunnel_id", t.id), slog.String("public_url", t.publicURL))
	if s.observer != nil {
		s.observer.TunnelEnded(proto.TunnelEnded{ID: t.id, SessionID: ss.id})
	}
	return &proto.UnbindResponse{}, nil
}

func (ss *session) isClosed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed
}

// allowed reports whether the session's ACL permits binding name (a host
// name or host:port). Rules are "bind:NAME", "bind:*.SUFFIX" or "bind:*".
func (ss *session) allowed(name string) bool {
	if len(ss.grant.ACL) == 0 {
		return true
	}
	for _, rule := range ss.grant.ACL {
		pat, ok := strings.CutPrefix(rule, "bind:")
		if !ok {
			continue
		}
		pat = strings.ToLower(pat)
		switch {
		case pat == "*" || pat == name:
			return true
		case strings.HasPrefix(pat, "*.") && strings.HasSuffix(name, pat[1:]):
			return true
		}
	}
	return false
}

// acceptTCP accepts visitors on a TCP endpoint until its listener closes.
func (s *Server) acceptTCP(ep *endpoint) {
	defer s.publicWG.Done()
	for {
		c, err := s.accept(ep.ln, "tcp visitor")
		if err != nil {
			return
		}
		s.publicWG.Add(1)
		go func() {
			defer s.publicWG.Done()
			s.serveTCP(ep, c)
		}()
	}
}

func (s *Server) serveTCP(ep *endpoint, c net.Conn) {
	s.m.tcpConns.Inc()
	s.mu.RLock()
	t := ep.pick()
	s.mu.RUnlock()
	if t == nil {
		_ = c.Close()
		return
	}
	if s.ipPolicies.Load() != nil {
		if _, blocked := s.ipCheck(t.sess.grant.AccountID, connIP(c), ep.key); blocked {
			_ = c.Close()
			return
		}
	}
	up, err := t.open(s.baseCtx, c.RemoteAddr().String())
	if err != nil {
		_ = c.Close()
		return
	}
	in, out := proto.Join(c, up)
	s.m.bytesIn.Add(float64(in))
	s.m.bytesOut.Add(float64(out))
}

// randomLabel returns a random 10-character subdomain label.
func randomLabel() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randIntn(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}
