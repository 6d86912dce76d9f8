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
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/httperr"
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
}

// ContentSecurityPolicy allows nothing inline: scripts and styles come from /static only.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Server is the dashboard and the API, sharing services and a database pool.
type Server struct {
	Dashboard *echo.Echo
	API       *echo.Echo
	Registry  *prometheus.Registry

	log  *slog.Logger
	cfg  Config
	db   *pgxpool.Pool
	auth *auth.Service
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
	credSvc := credentials.NewService(log, credentials.NewStore(db), nil)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newHTTPMetrics(reg)

	s := &Server{Registry: reg, log: log, cfg: cfg, db: db, auth: authSvc}
	s.Dashboard = s.newEcho("dashboard", metrics, false)
	s.API = s.newEcho("api", metrics, true)

	h := handlers{
		auth:       auth.NewHandler(authSvc, cfg.CookieSecure),
		apiKeysWeb: apikeys.NewWebHandler(keySvc),
		apiKeysAPI: apikeys.NewAPIHandler(keySvc, api.URIs{Base: cfg.APIURL}),
		keys:       keySvc,
		credWeb:    credentials.NewWebHandler(credSvc),
		credAPI:    credentials.NewAPIHandler(credSvc, api.URIs{Base: cfg.APIURL}),
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
			attrs := []any{"request_id", v.RequestID, "method", v.Method, "uri", v.URI, "status", v.Status,
				"latency_ms", float64(v.Latency.Microseconds()) / 1000, "remote_ip", v.RemoteIP}
			if p, ok := web.PrincipalFrom(c); ok {
				attrs = append(attrs, "account_id", p.AccountID, "user_id", p.UserID)
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", slogAttrs(attrs)...)
			return nil
		},
	})
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

// Serve runs both servers on their listeners until ctx ends, then shuts them down gracefully.
func (s *Server) Serve(ctx context.Context, dashboard, apiLn net.Listener) error {
	errc := make(chan error, 2)
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

// sweep deletes expired sessions and old login failures every few minutes.
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
