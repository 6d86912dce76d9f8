// Package edge is the regional edge server: it accepts agents over TLS +
// yamux, authenticates them through an Authenticator, binds their HTTP
// endpoints and TCP addresses, and proxies public traffic to them. One
// Server serves exactly one region.
package edge

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgeway/edgeway/internal/devca"
	"github.com/edgeway/edgeway/internal/proto"
)

// Server is one regional edge. Create it with New, bind its listeners with
// Listen, then Serve.
type Server struct {
	cfg  Config
	log  *slog.Logger
	auth Authenticator
	m    *metrics

	ctl      *Control    // nil: no control channel
	observer Observer    // nil: nobody is told about changes
	binds    BindChecker // nil: requested names need no outside check

	cert     *tls.Certificate // configured certificate, nil when none
	agentTLS *tls.Config      // nil: plain agent listener

	httpLn, httpsLn, agentLn, opsLn net.Listener
	opsSrv                          *http.Server
	front                           frontConns // public HTTP(S) visitor connections
	httpPort, httpsPort             int

	baseCtx    context.Context
	baseCancel context.CancelFunc

	mu        sync.RWMutex
	draining  bool
	sessions  map[string]*session  // by session id
	clients   map[string]*session  // by agent client id
	endpoints map[string]*endpoint // host (HTTP) or "tcp:port"
	agentWG   sync.WaitGroup       // agent handshakes and sessions
	publicWG  sync.WaitGroup       // public TCP connections and accept loops
	listening bool

	ipMu       sync.Mutex                           // serialises writers of ipPolicies; guards ipEpoch
	ipEpoch    uint64                               // bumped as each control channel snapshot is taken
	ipPolicies atomic.Pointer[map[string]*ipPolicy] // endpoint IP restrictions by account (copy-on-write)
}

// New returns an edge server for cfg (defaults applied, then validated).
// auth decides which agents may connect; nil refuses every agent until
// UseControl provides the bff.
func New(cfg Config, log *slog.Logger, auth Authenticator) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String("region", string(cfg.Region)))
	s := &Server{
		cfg:       cfg,
		log:       log,
		auth:      auth,
		m:         newMetrics(string(cfg.Region)),
		sessions:  make(map[string]*session),
		clients:   make(map[string]*session),
		endpoints: make(map[string]*endpoint),
	}
	if auth == nil {
		s.auth = refuseAll{}
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	if cfg.TLSCertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load tls certificate: %w", err)
		}
		s.cert = &c
		s.agentTLS = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	}
	s.front.init()
	s.setupHTTP()
	return s, nil
}

// UseControl makes c, the control channel to the bff, authenticate agents,
// check requested names and hear about changes. Call it before Serve, and
// run c alongside.
func (s *Server) UseControl(c *Control) {
	s.auth, s.binds, s.observer, s.ctl = c, c, c, c
}

// refuseAll refuses every agent: no authenticator was configured.
type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, AuthRequest) (Grant, error) {
	return Grant{}, proto.Errorf(proto.CodeAuthFailed, "this edge has no way to check authtokens (no bff control channel and no development tokens)")
}

// SetObserver makes o hear about session and tunnel changes. Call it
// before Serve.
func (s *Server) SetObserver(o Observer) { s.observer = o }

// SetBindChecker makes b decide on explicitly requested names. Call it
// before Serve.
func (s *Server) SetBindChecker(b BindChecker) { s.binds = b }

// Config returns the server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Listen binds every listener. It fails, naming the address, when one is
// unavailable; nothing stays bound then.
func (s *Server) Listen() (err error) {
	var opened []net.Listener
	defer func() {
		if err != nil {
			for _, ln := range opened {
				_ = ln.Close()
			}
		}
	}()
	listen := func(name, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen %s on %s: %w", name, addr, err)
		}
		opened = append(opened, ln)
		return ln, nil
	}
	if s.httpLn, err = listen("http", s.cfg.HTTPAddr); err != nil {
		return err
	}
	s.httpPort = s.httpLn.Addr().(*net.TCPAddr).Port
	if s.cfg.HTTPSAddr != "" {
		ln, err := listen("https", s.cfg.HTTPSAddr)
		if err != nil {
			return err
		}
		s.httpsPort = ln.Addr().(*net.TCPAddr).Port
		cert := s.cert
		if cert == nil {
			c, err := devca.SelfSigned("*."+s.cfg.BaseDomain, s.cfg.BaseDomain, "localhost", "127.0.0.1")
			if err != nil {
				return fmt.Errorf("create self-signed certificate: %w", err)
			}
			cert = &c
			s.log.Warn("no tls certificate configured; https serves an ephemeral self-signed certificate")
		}
		s.httpsLn = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{*cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
	}
	if s.agentLn, err = listen("agent", s.cfg.AgentAddr); err != nil {
		return err
	}
	if s.opsLn, err = listen("ops", s.cfg.OpsAddr); err != nil {
		return err
	}
	if s.agentTLS == nil {
		s.log.Warn("no tls certificate configured; agents connect over plain tcp (development only)")
	}
	s.listening = true
	return nil
}

// HTTPAddr returns the bound public HTTP address (after Listen).
func (s *Server) HTTPAddr() net.Addr { return addrOf(s.httpLn) }

// HTTPSAddr returns the bound public HTTPS address, or nil.
func (s *Server) HTTPSAddr() net.Addr { return addrOf(s.httpsLn) }

// AgentAddr returns the bound agent address (after Listen).
func (s *Server) AgentAddr() net.Addr { return addrOf(s.agentLn) }

// OpsAddr returns the bound ops address (after Listen).
func (s *Server) OpsAddr() net.Addr { return addrOf(s.opsLn) }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// Serve serves until ctx ends, then drains: it stops accepting agents and
// visitors, tells agents the edge is going away, lets in-flight requests
// and TCP connections finish for up to DrainTimeout, and closes every
// session. It returns nil after a clean drain.
func (s *Server) Serve(ctx context.Context) error {
	if !s.listening {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 4)
	s.front.wg.Add(1)
	go s.acceptVisitors(s.httpLn, false)
	if s.httpsLn != nil {
		s.front.wg.Add(1)
		go s.acceptVisitors(s.httpsLn, true)
	}
	go func() {
		if err := s.opsSrv.Serve(s.opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve ops: %w", err)
		}
	}()
	s.agentWG.Add(1)
	go s.acceptAgents()
	s.log.Info("edge serving",
		slog.String("region_name", s.cfg.Region.Name()),
		slog.String("http_addr", s.httpLn.Addr().String()),
		slog.String("agent_addr", s.agentLn.Addr().String()),
		slog.String("ops_addr", s.opsLn.Addr().String()),
		slog.String("base_domain", s.cfg.BaseDomain),
		slog.String("tcp_ports", s.cfg.TCPPorts.String()))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.drain()
	return serveErr
}

func (s *Server) drain() {
	start := time.Now()
	s.log.Info("edge draining", slog.Duration("timeout", s.cfg.DrainTimeout))
	s.mu.Lock()
	s.draining = true
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	var tcpLns []net.Listener
	for _, ep := range s.endpoints {
		if ep.ln != nil {
			tcpLns = append(tcpLns, ep.ln)
		}
	}
	s.mu.Unlock()

	_ = s.agentLn.Close()
	for _, ln := range tcpLns {
		_ = ln.Close()
	}
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	_ = s.httpLn.Close()
	if s.httpsLn != nil {
		_ = s.httpsLn.Close()
	}
	s.front.startDrain()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Requests in progress finish (their connections close after).
		for s.front.busy() > 0 && dctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitCtx(dctx, &s.publicWG)
	}()
	wg.Wait()

	// Tell agents to go (they hang up and reconnect, elsewhere if they
	// can), give them a moment, then end whatever is left (hijacked
	// websockets, long TCP connections) with the sessions.
	for _, ss := range sessions {
		ss.push(proto.TypeDrain, proto.Command{Reason: "the edge is shutting down"})
	}
	gctx, gcancel := context.WithTimeout(dctx, time.Second)
	for len(sessions) > 0 && gctx.Err() == nil && s.liveSessions() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	gcancel()
	s.baseCancel()
	for _, ss := range sessions {
		ss.close()
	}
	s.mu.Lock()
	for _, ss := range s.sessions {
		ss.close()
	}
	s.mu.Unlock()
	s.agentWG.Wait()
	s.publicWG.Wait()
	s.front.closeAll()
	s.front.wg.Wait()
	octx, ocancel := context.WithTimeout(context.Background(), time.Second)
	defer ocancel()
	_ = s.opsSrv.Shutdown(octx)
	s.log.Info("edge drained", slog.Duration("took", time.Since(start)))
}

func (s *Server) liveSessions() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// waitCtx waits for wg or ctx, whichever comes first.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Health is the body of GET /healthz.
type Health struct {
	Status     string `json:"status"`
	Region     string `json:"region"`
	RegionName string `json:"region_name"`
	BaseDomain string `json:"base_domain"`
	Sessions   int    `json:"sessions"`
	Tunnels    int    `json:"tunnels"`
	Draining   bool   `json:"draining"`
	Protocol   int    `json:"protocol_version"`
	// BFF is the control channel's state: "up", "down" or "off".
	BFF string `json:"bff"`
}

// Health returns the server's current health summary.
func (s *Server) Health() Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := Health{
		Status:     "ok",
		Region:     string(s.cfg.Region),
		RegionName: s.cfg.Region.Name(),
		BaseDomain: s.cfg.BaseDomain,
		Sessions:   len(s.sessions),
		Draining:   s.draining,
		Protocol:   proto.Version,
	}
	for _, ep := range s.endpoints {
		h.Tunnels += len(ep.tunnels)
	}
	if s.draining {
		h.Status = "draining"
	}
	h.BFF = "off"
	if s.ctl != nil {
		select {
		case <-s.ctl.Connected():
			h.BFF = "up"
		default:
			h.BFF = "down"
		}
	}
	return h
}

func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.Health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if h.Draining {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	return mux
}

// publicURL returns scheme://host[:port], leaving out default ports.
func publicURL(scheme, host string, port int) string {
	if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) || port == 0 {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + strconv.Itoa(port)
}
