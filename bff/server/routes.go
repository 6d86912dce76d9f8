package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/credentials"
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
	credWeb    *credentials.WebHandler
	credAPI    *credentials.APIHandler
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

	// Signed-in pages. RequireUser is per route (not Group.Use) so unknown paths stay 404s.
	user := auth.RequireUser
	for _, sec := range frontend.Sections {
		if sec.Key == "api-keys" || sec.Key == "authtokens" {
			continue
		}
		app.GET(sec.Path, sectionPage(sec), user)
	}
	app.GET("/api-keys", h.apiKeysWeb.Page, user)
	app.POST("/api-keys", h.apiKeysWeb.Create, user)
	app.DELETE("/api-keys/:id", h.apiKeysWeb.Delete, user)
	app.GET("/authtokens", h.credWeb.Page, user)
	app.POST("/authtokens", h.credWeb.Create, user)
	app.DELETE("/authtokens/:id", h.credWeb.Delete, user)
}

// apiRoutes is the whole route table of the API listener. Every route here is documented in
// openapi.json; a test holds the two together.
func (s *Server) apiRoutes(h handlers) {
	e := s.API
	e.GET("/openapi.json", serveOpenAPI)
	// Middleware per route (not Group.Use), so a wrong method stays a 405 and not a 404.
	v := []echo.MiddlewareFunc{api.Authenticate(h.keys.Resolve), api.RequireVersion}
	e.GET("/api_keys", h.apiKeysAPI.List, v...)
	e.POST("/api_keys", h.apiKeysAPI.Create, v...)
	e.GET("/api_keys/:id", h.apiKeysAPI.Get, v...)
	e.PATCH("/api_keys/:id", h.apiKeysAPI.Update, v...)
	e.DELETE("/api_keys/:id", h.apiKeysAPI.Delete, v...)
	e.GET("/credentials", h.credAPI.List, v...)
	e.POST("/credentials", h.credAPI.Create, v...)
	e.GET("/credentials/:id", h.credAPI.Get, v...)
	e.PATCH("/credentials/:id", h.credAPI.Update, v...)
	e.DELETE("/credentials/:id", h.credAPI.Delete, v...)
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
		ErrorHandler:   func(err error, c echo.Context) error { return csrfError(err) },
		AllowSecFetchSiteFunc: func(c echo.Context) (bool, error) {
			if c.Request().Header.Get(echo.HeaderSecFetchSite) == "same-site" {
				return false, nil // a sibling subdomain: must carry the token
			}
			return false, csrfError(errors.New("cross-site request"))
		},
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/static") },
	})
}

func csrfError(err error) error {
	return httperr.Wrap(err, http.StatusForbidden, httperr.CodeCSRF,
		"This form has expired or did not come from this site. Reload the page and try again.")
}

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, api.OpenAPI)
}
