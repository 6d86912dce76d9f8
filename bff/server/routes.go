package server

import (
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

type handlers struct {
	auth       *auth.Handler
	apiKeysWeb *apikeys.WebHandler
	apiKeysAPI *apikeys.APIHandler
	keys       *apikeys.Service
}

// dashboardRoutes is the whole route table of the dashboard listener.
func (s *Server) dashboardRoutes(h handlers) {
	e := s.Dashboard
	// Operational endpoints: no session, no CSRF.
	e.GET("/healthz", healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())
	static := e.Group("/static", func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("Cache-Control", "public, max-age=3600")
			return next(c)
		}
	})
	static.StaticFS("/", frontend.Static())

	// Everything else is a browser surface: CSRF on every state change, the session resolved.
	app := e.Group("", s.csrf(), h.auth.LoadSession)
	app.GET("/", func(c echo.Context) error {
		if _, ok := web.PrincipalFrom(c); ok {
			return c.Redirect(http.StatusSeeOther, "/agents")
		}
		return c.Redirect(http.StatusSeeOther, "/login")
	})
	app.GET("/login", h.auth.LoginPage)
	app.POST("/login", h.auth.Login)
	app.GET("/signup", h.auth.SignupPage)
	app.POST("/signup", h.auth.Signup)
	app.POST("/logout", h.auth.Logout)

	user := app.Group("", auth.RequireUser)
	for _, sec := range frontend.Sections {
		if sec.Key == "api-keys" {
			continue
		}
		user.GET(sec.Path, sectionPage(sec))
	}
	user.GET("/api-keys", h.apiKeysWeb.Page)
	user.POST("/api-keys", h.apiKeysWeb.Create)
	user.DELETE("/api-keys/:id", h.apiKeysWeb.Delete)
}

// apiRoutes is the whole route table of the API listener. Every route here is documented in
// openapi.json; a test holds the two together.
func (s *Server) apiRoutes(h handlers) {
	e := s.API
	e.GET("/openapi.json", serveOpenAPI)
	v := e.Group("", api.Authenticate(h.keys.Resolve), api.RequireVersion)
	v.GET("/api_keys", h.apiKeysAPI.List)
	v.POST("/api_keys", h.apiKeysAPI.Create)
	v.GET("/api_keys/:id", h.apiKeysAPI.Get)
	v.PATCH("/api_keys/:id", h.apiKeysAPI.Update)
	v.DELETE("/api_keys/:id", h.apiKeysAPI.Delete)
}

func sectionPage(sec frontend.Section) echo.HandlerFunc {
	return func(c echo.Context) error {
		return web.Render(c, http.StatusOK, frontend.SectionPage(web.NewPage(c, sec.Label, sec.Key), sec))
	}
}

// csrf protects every state-changing request: a same-origin Sec-Fetch-Site passes; anything else
// must carry the token (form field _csrf or header X-CSRF-Token, as htmx sends it).
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		ContextKey:     web.CSRFKey,
		CookieName:     "ew_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.CookieSecure,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return httperr.Wrap(err, http.StatusForbidden, httperr.CodeCSRF,
				"This form has expired or did not come from this site. Reload the page and try again.")
		},
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/static") },
	})
}

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, api.OpenAPI)
}
