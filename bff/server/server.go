// Package server builds the bff's two Echo servers, the dashboard and the JSON API: middleware
// order, the route table (routes.go), the error handler, health, readiness and metrics.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/authz"
	"github.com/edgeway/edgeway/bff/control"
	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/edgeway/edgeway/bff/live"
	"github.com/edgeway/edgeway/bff/mail"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/reservations"
	"github.com/edgeway/edgeway/bff/team"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the servers need to know about their deployment.
type Config struct {
	PublicURL      string         // the dashboard's public base URL
	APIURL         string         // the API's public base URL (absolute resource URIs start with it)
	CookieSecure   bool           // mark cookies Secure (HTTPS deployments)
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For is believed
	BodyLimit      int64          // maximum request body, bytes
	AuthPolicy     auth.Policy
	Edges          reservations.Regions // the regional edges (EDGEWAY_EDGES), by region
	EdgeToken      string               // shared secret the edges present on the control channel
	StaleGrace     time.Duration        // how long sessions of an edge that lost its channel are kept
	SMTPAddr       string               // SMTP server for outgoing mail; "" keeps mail queued in the outbox
	SMTPFrom       string               // From address of outgoing mail
}

// ContentSecurityPolicy allows nothing inline: scripts and styles come from /static only.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Server is the dashboard and the API, sharing services and a database pool.
type Server struct {
	Dashboard *echo.Echo
	API       *echo.Echo
	Registry  *prometheus.Registry
	// Reservations answers the control plane's CheckBind and RegionFor.
	Reservations *reservations.Service
	// Control is the edge control channel; Serve accepts edges on its listener.
	Control *control.Server
	feed    *control.Feed
	// Plans reads plans and usage; other domains call Plans.Check before adding what a plan limits.
	Plans *plans.Service
	// Mail delivers the mail outbox over SMTP.
	Mail *mail.Worker
	// IPPolicies manages IP policies and restrictions; IPPolicies.Cache() has every account's
	// compiled restrictions (the agent and endpoint types are for the edges).
	IPPolicies *ippolicy.Service
	// IPRecovery sends and honours dashboard lockout recovery links.
	IPRecovery *ippolicy.Recovery

	log   *slog.Logger
	cfg   Config
	db    *pgxpool.Pool
	auth  *auth.Service
	authz *authz.Enforcer
}

// New builds both servers.
func New(cfg Config, log *slog.Logger, db *pgxpool.Pool) (*Server, error) {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	authStore := auth.NewStore(db)
	authSvc, err := auth.NewService(log, authStore, cfg.AuthPolicy)
	if err != nil {
		return nil, err
	}
	keySvc := apikeys.NewService(log, apikeys.NewStore(db), authStore)
	// Plans' limits are checked by every domain that adds what they count.
	planSvc := plans.New(log, db)
	resSvc := reservations.NewService(log, reservations.NewStore(db), cfg.Edges, planSvc)
	sessions := control.NewStore(db)
	hub := live.NewHub(log)
	feed := control.NewFeed(log, sessions, hub, db)
	// The control server and the credentials service refer to each other: revoking a credential
	// disconnects its agents; the control server authenticates agents with credentials.
	revoker := &revokeVia{}
	credSvc := credentials.NewService(log, credentials.NewStore(db), revoker)
	ctl := control.NewServer(log, control.Config{Token: cfg.EdgeToken, StaleGrace: cfg.StaleGrace}, sessions, credSvc, resSvc, planSvc, feed)
	ctl.EnableRelay(db)
	revoker.ctl = ctl

	enforcer, err := authz.New()
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newHTTPMetrics(reg)

	s := &Server{Registry: reg, log: log, cfg: cfg, db: db, auth: authSvc, authz: enforcer}
	s.Reservations = resSvc
	s.Control, s.feed = ctl, feed
	s.Plans = planSvc
	if cfg.SMTPFrom == "" {
		cfg.SMTPFrom = "Edgeway <no-reply@edgeway.local>"
	}
	s.Mail = mail.NewWorker(log, db, cfg.SMTPAddr, cfg.SMTPFrom)
	teamSvc := team.New(log, db, s.Plans, authSvc, revoker, s.Mail, cfg.PublicURL)
	ipCache := ippolicy.NewCache(ippolicy.NewStore(db), ippolicy.DefaultRecheck)
	// Agents' sign-ins obey the agent restriction; the edges get the endpoint restrictions.
	ctl.EnableIPRestrictions(ipCache)
	s.IPPolicies = ippolicy.NewService(log, db, ipCache, s.Plans)
	s.IPRecovery = ippolicy.NewRecovery(log, db, ipCache, ippolicy.SMTPMailer{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom}, cfg.PublicURL)
	s.Dashboard = s.newEcho("dashboard", metrics, false)
	s.API = s.newEcho("api", metrics, true)

	authHandler := auth.NewHandler(authSvc, cfg.CookieSecure)
	h := handlers{
		auth:       authHandler,
		apiKeysWeb: apikeys.NewWebHandler(keySvc),
		apiKeysAPI: apikeys.NewAPIHandler(keySvc, api.URIs{Base: cfg.APIURL}),
		keys:       keySvc,
		credWeb:    credentials.NewWebHandler(credSvc),
		credAPI:    credentials.NewAPIHandler(credSvc, api.URIs{Base: cfg.APIURL}),
		resWeb:     reservations.NewWebHandler(resSvc),
		resAPI:     reservations.NewAPIHandler(resSvc, api.URIs{Base: cfg.APIURL}),
		agentsWeb: control.NewWebHandler(sessions, feed, hub, ctl, cfg.PublicURL, func(p web.Principal) bool {
			return enforcer.Allowed(p.Roles, authz.AgentsWrite)
		}),
		agentsAPI: control.NewAPIHandler(sessions, ctl, api.URIs{Base: cfg.APIURL}),
		team:      team.NewWebHandler(teamSvc, authSvc, authHandler),
		plans:     plans.NewHandler(s.Plans, api.URIs{Base: cfg.APIURL}),
		ipWeb:     ippolicy.NewWebHandler(s.IPPolicies, s.IPRecovery),
		ipAPI:     ippolicy.NewAPIHandler(s.IPPolicies, api.URIs{Base: cfg.APIURL}),
		ipGuard:   ippolicy.NewEnforcer(log, ipCache),
	}
	s.dashboardRoutes(h)
	s.apiRoutes(h)
	return s, nil
}

func (s *Server) newEcho(name string, m *httpMetrics, isAPI bool) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(s.log.With("listener", name), isAPI)
	e.IPExtractor = ipExtractor(s.cfg.TrustedProxies)
	e.Use(middleware.RequestID())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
			return httperr.Internal(err)
		},
	}))
	e.Use(requestLogger(s.log.With("listener", name)))
	e.Use(m.middleware(name))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            31536000,
		ContentSecurityPolicy: ContentSecurityPolicy,
		ReferrerPolicy:        "strict-origin-when-cross-origin",
	}))
	e.Use(bodyLimit(s.cfg.BodyLimit))
	return e
}

// ipExtractor takes the client IP from the socket, or from X-Forwarded-For only when the peer is
// a trusted proxy: headers from anyone else are ignored.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		_, n, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// bodyLimit refuses bodies over n bytes with a clear error (checked on Content-Length and while reading).
func bodyLimit(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return httperr.New(http.StatusRequestEntityTooLarge, httperr.CodeBodyTooLarge,
					fmt.Sprintf("The request body is %d bytes; at most %d are allowed.", req.ContentLength, n))
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRemoteIP: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			attrs := []any{"request_id", v.RequestID, "method", v.Method, "uri", redactURI(v.URI), "status", v.Status,
				"latency_ms", float64(v.Latency.Microseconds()) / 1000, "remote_ip", v.RemoteIP}
			if p, ok := web.PrincipalFrom(c); ok {
				attrs = append(attrs, "account_id", p.AccountID, "user_id", p.UserID)
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", slogAttrs(attrs)...)
			return nil
		},
	})
}

// secretPaths are path prefixes whose next segment is a bearer secret (an emailed link's token).
var secretPaths = []string{"/invitations/", "/ip-recovery/"}

// redactURI hides the token of emailed links, so logs never hold a usable link.
func redactURI(uri string) string {
	for _, p := range secretPaths {
		if rest, ok := strings.CutPrefix(uri, p); ok {
			end := strings.IndexAny(rest, "/?")
			if end < 0 {
				end = len(rest)
			}
			return p + "REDACTED" + rest[end:]
		}
	}
	return uri
}

func slogAttrs(kv []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeway_http_requests_total", Help: "HTTP requests served, by listener, route and status.",
		}, []string{"listener", "method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edgeway_http_request_duration_seconds", Help: "HTTP request latency, by listener and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener", "method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) middleware(listener string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil {
				if e, ok := httperr.As(err); ok {
					status = e.Status
				} else if he := new(echo.HTTPError); errors.As(err, &he) {
					status = he.Code
				} else {
					status = http.StatusInternalServerError
				}
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			m.requests.WithLabelValues(listener, c.Request().Method, route, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(listener, c.Request().Method, route).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// healthz says the process is up.
func healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says the process can serve: the database answers.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "The database is not reachable.")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
}

func (s *Server) metricsHandler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
}

// revokeVia lets the credentials service reach the control server built after it.
type revokeVia struct{ ctl *control.Server }

func (r *revokeVia) CredentialRevoked(ctx context.Context, accountID, credentialID string) {
	if r.ctl != nil {
		r.ctl.CredentialRevoked(ctx, accountID, credentialID)
	}
}

// Serve runs both servers and the edge control channel on their listeners until ctx ends, then
// shuts them down gracefully.
func (s *Server) Serve(ctx context.Context, dashboard, apiLn, controlLn net.Listener) error {
	errc := make(chan error, 3)
	go s.feed.Listen(ctx)
	if s.cfg.SMTPAddr != "" {
		go s.Mail.Run(ctx)
	} else {
		s.log.Warn("no SMTP server configured (EDGEWAY_SMTP_ADDR): mail stays queued in the outbox")
	}
	go func() {
		if err := s.Control.Serve(ctx, controlLn); err != nil {
			errc <- err
		}
	}()
	serve := func(e *echo.Echo, ln net.Listener) {
		srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
		e.Server = srv
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}
	go serve(s.Dashboard, dashboard)
	go serve(s.API, apiLn)
	go s.sweep(ctx)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			return err
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(s.Dashboard.Shutdown(shutdownCtx), s.API.Shutdown(shutdownCtx))
}

// sweep deletes expired sessions, old login failures and old IP recovery links every few minutes.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	store := auth.NewStore(s.db)
	for {
		n, err := store.DeleteExpiredSessions(ctx, time.Now().Add(-24*time.Hour))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sweep sessions", "err", err)
		} else if n > 0 {
			s.log.Info("swept expired sessions", "count", n)
		}
		if err := ippolicy.NewStore(s.db).DeleteExpiredRecovery(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep ip recovery links", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
