package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/control"
	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/reservations"
	"github.com/edgeway/edgeway/bff/team"
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
	resWeb     *reservations.WebHandler
	resAPI     *reservations.APIHandler
	agentsWeb  *control.WebHandler
	agentsAPI  *control.APIHandler
	team       *team.WebHandler
	plans      *plans.Handler
	ipWeb      *ippolicy.WebHandler
	ipAPI      *ippolicy.APIHandler
	ipGuard    *ippolicy.Enforcer
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
	// The account's dashboard IP restriction applies as soon as the session names the account
	// (see ippolicy.Enforcer for the order and the exempt recovery paths).
	app := e.Group("", s.csrf(), h.auth.LoadSession, h.ipGuard.Dashboard)
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
	// Invitation links: the token is the credential.
	app.GET("/invitations/:token", h.team.AcceptPage)
	app.POST("/invitations/:token", h.team.Accept)

	// Signed-in pages. RequireUser is per route (not Group.Use) so unknown paths stay 404s; then
	// the route's permission (permissions.go).
	user := s.signedInRoute()
	for _, sec := range frontend.Sections {
		if sec.Key == "api-keys" || sec.Key == "authtokens" || sec.Key == "endpoints" || sec.Key == "agents" ||
			sec.Key == "team" || sec.Key == "billing" || sec.Key == "ip-restrictions" {
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
	app.GET("/agents", h.agentsWeb.Page, user)
	app.GET("/agents/live", h.agentsWeb.Live, user)
	app.POST("/agents/bulk", h.agentsWeb.Bulk, user)
	app.GET("/agents/:id", h.agentsWeb.Detail, user)
	app.POST("/agents/:id/stop", h.agentsWeb.Stop, user)
	app.POST("/agents/:id/restart", h.agentsWeb.Restart, user)
	app.GET("/endpoints", h.resWeb.Page, user)
	app.POST("/endpoints/domains", h.resWeb.CreateDomain, user)
	app.DELETE("/endpoints/domains/:id", h.resWeb.DeleteDomain, user)
	app.POST("/endpoints/addrs", h.resWeb.CreateAddr, user)
	app.DELETE("/endpoints/addrs/:id", h.resWeb.DeleteAddr, user)
	app.GET("/team", h.team.Page, user)
	app.POST("/team/invitations", h.team.Invite, user)
	app.POST("/team/invitations/:id/resend", h.team.Resend, user)
	app.DELETE("/team/invitations/:id", h.team.Revoke, user)
	app.POST("/team/members/:id/roles", h.team.ChangeRoles, user)
	app.POST("/team/members/:id/disable", h.team.Disable, user)
	app.POST("/team/members/:id/enable", h.team.Enable, user)
	app.DELETE("/team/members/:id", h.team.Delete, user)
	app.GET("/billing", h.plans.Page, user)
	app.POST("/billing/plan", h.plans.ChangePlan, user)
	app.GET("/ip-restrictions", h.ipWeb.Page, user)
	app.POST("/ip-restrictions/policies", h.ipWeb.CreatePolicy, user)
	app.DELETE("/ip-restrictions/policies/:id", h.ipWeb.DeletePolicy, user)
	app.POST("/ip-restrictions/policies/:id/rules", h.ipWeb.CreateRule, user)
	app.DELETE("/ip-restrictions/rules/:id", h.ipWeb.DeleteRule, user)
	app.POST("/ip-restrictions/restrictions/:type", h.ipWeb.SaveRestriction, user)
	app.DELETE("/ip-restrictions/restrictions/:type", h.ipWeb.DeleteRestriction, user)
	// Lockout recovery: reachable from a blocked address; the link's token is checked against
	// the signed-in administrator by the handler.
	app.GET("/ip-recovery", h.ipWeb.RecoveryRequestPage)
	app.POST("/ip-recovery", h.ipWeb.RequestRecovery)
	app.GET("/ip-recovery/:token", h.ipWeb.RecoveryPage)
	app.POST("/ip-recovery/:token", h.ipWeb.Recover)
}

// apiRoutes is the whole route table of the API listener. Every route here is documented in
// openapi.json; a test holds the two together.
func (s *Server) apiRoutes(h handlers) {
	e := s.API
	e.GET("/openapi.json", serveOpenAPI)
	// Middleware per route (not Group.Use), so a wrong method stays a 405 and not a 404.
	// The account's API IP restriction applies as soon as the key names the account.
	v := []echo.MiddlewareFunc{api.Authenticate(h.keys.Resolve), h.ipGuard.API, api.RequireVersion, s.authz.Middleware(apiRules)}
	e.GET("/account", h.plans.GetAccount, v...)
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
	e.GET("/tunnel_sessions", h.agentsAPI.ListSessions, v...)
	e.GET("/tunnel_sessions/:id", h.agentsAPI.GetSession, v...)
	e.POST("/tunnel_sessions/:id/stop", h.agentsAPI.Stop, v...)
	e.POST("/tunnel_sessions/:id/restart", h.agentsAPI.Restart, v...)
	e.POST("/tunnel_sessions/:id/update", h.agentsAPI.Update, v...)
	e.GET("/tunnels", h.agentsAPI.ListTunnels, v...)
	e.GET("/tunnels/:id", h.agentsAPI.GetTunnel, v...)
	e.GET("/reserved_domains", h.resAPI.ListDomains, v...)
	e.POST("/reserved_domains", h.resAPI.CreateDomain, v...)
	e.GET("/reserved_domains/:id", h.resAPI.GetDomain, v...)
	e.PATCH("/reserved_domains/:id", h.resAPI.UpdateDomain, v...)
	e.DELETE("/reserved_domains/:id", h.resAPI.DeleteDomain, v...)
	e.GET("/reserved_addrs", h.resAPI.ListAddrs, v...)
	e.POST("/reserved_addrs", h.resAPI.CreateAddr, v...)
	e.GET("/reserved_addrs/:id", h.resAPI.GetAddr, v...)
	e.PATCH("/reserved_addrs/:id", h.resAPI.UpdateAddr, v...)
	e.DELETE("/reserved_addrs/:id", h.resAPI.DeleteAddr, v...)
	e.GET("/ip_policies", h.ipAPI.ListPolicies, v...)
	e.POST("/ip_policies", h.ipAPI.CreatePolicy, v...)
	e.GET("/ip_policies/:id", h.ipAPI.GetPolicy, v...)
	e.PATCH("/ip_policies/:id", h.ipAPI.UpdatePolicy, v...)
	e.DELETE("/ip_policies/:id", h.ipAPI.DeletePolicy, v...)
	e.GET("/ip_policy_rules", h.ipAPI.ListRules, v...)
	e.POST("/ip_policy_rules", h.ipAPI.CreateRule, v...)
	e.GET("/ip_policy_rules/:id", h.ipAPI.GetRule, v...)
	e.PATCH("/ip_policy_rules/:id", h.ipAPI.UpdateRule, v...)
	e.DELETE("/ip_policy_rules/:id", h.ipAPI.DeleteRule, v...)
	e.GET("/ip_restrictions", h.ipAPI.ListRestrictions, v...)
	e.POST("/ip_restrictions", h.ipAPI.CreateRestriction, v...)
	e.GET("/ip_restrictions/:id", h.ipAPI.GetRestriction, v...)
	e.PATCH("/ip_restrictions/:id", h.ipAPI.UpdateRestriction, v...)
	e.DELETE("/ip_restrictions/:id", h.ipAPI.DeleteRestriction, v...)
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
