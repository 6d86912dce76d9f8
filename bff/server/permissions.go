package server

import (
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/authz"
	"github.com/labstack/echo/v4"
)

// The authorization rule of every route, keyed "METHOD path" as registered in routes.go. The
// authz middleware refuses any route missing here, and TestEveryRouteHasAPermission fails for
// it, so a new route is closed until someone decides who may use it.
//
// Some entries name routes that other work in progress registers (reserved domains and addrs,
// agent sessions); an entry without a route is harmless.
var (
	public   = authz.Public
	signedIn = authz.SignedIn
	need     = authz.Need
)

// dashboardRules is the rule of every dashboard route.
var dashboardRules = map[string]authz.Rule{
	// Operational and static: no session.
	"GET /healthz": public, "GET /readyz": public, "GET /metrics": public,
	"GET /static": public, "GET /static/": public, "GET /static/*": public,
	// Signing up, in and out; invitation links work before the person has an account.
	"GET /": public, "GET /login": public, "POST /login": public, "GET /signup": public, "POST /signup": public,
	"POST /logout":                               public,
	"GET /invitations/:token":                    public,
	"POST /invitations/:token":                   public,
	"GET /settings":                              signedIn,
	"GET /agents":                                need(authz.AgentsRead),
	"GET /agents/live":                           need(authz.AgentsRead),
	"POST /agents/bulk":                          need(authz.AgentsWrite),
	"GET /agents/:id":                            need(authz.AgentsRead),
	"POST /agents/:id/restart":                   need(authz.AgentsWrite),
	"POST /agents/:id/stop":                      need(authz.AgentsWrite),
	"GET /endpoints":                             need(authz.EndpointsRead),
	"POST /endpoints/domains":                    need(authz.EndpointsWrite),
	"DELETE /endpoints/domains/:id":              need(authz.EndpointsWrite),
	"POST /endpoints/addrs":                      need(authz.EndpointsWrite),
	"DELETE /endpoints/addrs/:id":                need(authz.EndpointsWrite),
	"GET /authtokens":                            need(authz.CredentialsRead),
	"POST /authtokens":                           need(authz.CredentialsWrite),
	"DELETE /authtokens/:id":                     need(authz.CredentialsWrite),
	"GET /api-keys":                              need(authz.APIKeysRead),
	"POST /api-keys":                             need(authz.APIKeysWrite),
	"DELETE /api-keys/:id":                       need(authz.APIKeysWrite),
	"GET /ip-restrictions":                       need(authz.IPPoliciesRead),
	"POST /ip-restrictions/policies":             need(authz.IPPoliciesWrite),
	"DELETE /ip-restrictions/policies/:id":       need(authz.IPPoliciesWrite),
	"POST /ip-restrictions/policies/:id/rules":   need(authz.IPPoliciesWrite),
	"DELETE /ip-restrictions/rules/:id":          need(authz.IPPoliciesWrite),
	"POST /ip-restrictions/restrictions/:type":   need(authz.IPRestrictionsWrite),
	"DELETE /ip-restrictions/restrictions/:type": need(authz.IPRestrictionsWrite),
	// Lockout recovery: the token (checked against the signed-in administrator) is the credential.
	"GET /ip-recovery": public, "POST /ip-recovery": public,
	"GET /ip-recovery/:token": public, "POST /ip-recovery/:token": public,
	"GET /events":                       need(authz.EventsRead),
	"GET /team":                         need(authz.TeamRead),
	"POST /team/invitations":            need(authz.TeamInvite),
	"POST /team/invitations/:id/resend": need(authz.TeamInvite),
	"DELETE /team/invitations/:id":      need(authz.TeamInvite),
	"POST /team/members/:id/roles":      need(authz.TeamManage),
	"POST /team/members/:id/disable":    need(authz.TeamManage),
	"POST /team/members/:id/enable":     need(authz.TeamManage),
	"DELETE /team/members/:id":          need(authz.TeamManage),
	"GET /billing":                      need(authz.BillingRead),
	"POST /billing/plan":                need(authz.BillingWrite),
}

// apiRules is the rule of every API route.
var apiRules = map[string]authz.Rule{
	// Event destinations and subscriptions, as the reference names them.
	"GET /event_destinations":                       need(authz.EventsRead),
	"POST /event_destinations":                      need(authz.EventsWrite),
	"GET /event_destinations/:id":                   need(authz.EventsRead),
	"PATCH /event_destinations/:id":                 need(authz.EventsWrite),
	"DELETE /event_destinations/:id":                need(authz.EventsWrite),
	"POST /event_destinations/:id/send_test_event":  need(authz.EventsWrite),
	"GET /event_subscriptions":                      need(authz.EventsRead),
	"POST /event_subscriptions":                     need(authz.EventsWrite),
	"GET /event_subscriptions/:id":                  need(authz.EventsRead),
	"PATCH /event_subscriptions/:id":                need(authz.EventsWrite),
	"DELETE /event_subscriptions/:id":               need(authz.EventsWrite),
	"GET /event_subscriptions/:id/sources":          need(authz.EventsRead),
	"POST /event_subscriptions/:id/sources":         need(authz.EventsWrite),
	"GET /event_subscriptions/:id/sources/:type":    need(authz.EventsRead),
	"PATCH /event_subscriptions/:id/sources/:type":  need(authz.EventsWrite),
	"DELETE /event_subscriptions/:id/sources/:type": need(authz.EventsWrite),
	"GET /openapi.json":                             public,
	"GET /account":                                  need(authz.AccountRead),
	"GET /api_keys":                                 need(authz.APIKeysRead),
	"POST /api_keys":                                need(authz.APIKeysWrite),
	"GET /api_keys/:id":                             need(authz.APIKeysRead),
	"PATCH /api_keys/:id":                           need(authz.APIKeysWrite),
	"DELETE /api_keys/:id":                          need(authz.APIKeysWrite),
	"GET /credentials":                              need(authz.CredentialsRead),
	"POST /credentials":                             need(authz.CredentialsWrite),
	"GET /credentials/:id":                          need(authz.CredentialsRead),
	"PATCH /credentials/:id":                        need(authz.CredentialsWrite),
	"DELETE /credentials/:id":                       need(authz.CredentialsWrite),
	"GET /reserved_domains":                         need(authz.EndpointsRead),
	"POST /reserved_domains":                        need(authz.EndpointsWrite),
	"GET /reserved_domains/:id":                     need(authz.EndpointsRead),
	"PATCH /reserved_domains/:id":                   need(authz.EndpointsWrite),
	"DELETE /reserved_domains/:id":                  need(authz.EndpointsWrite),
	"GET /reserved_addrs":                           need(authz.EndpointsRead),
	"POST /reserved_addrs":                          need(authz.EndpointsWrite),
	"GET /reserved_addrs/:id":                       need(authz.EndpointsRead),
	"PATCH /reserved_addrs/:id":                     need(authz.EndpointsWrite),
	"DELETE /reserved_addrs/:id":                    need(authz.EndpointsWrite),
	"GET /endpoints":                                need(authz.EndpointsRead),
	"GET /endpoints/:id":                            need(authz.EndpointsRead),
	"GET /tunnel_sessions":                          need(authz.AgentsRead),
	"GET /tunnel_sessions/:id":                      need(authz.AgentsRead),
	"POST /tunnel_sessions/:id/restart":             need(authz.AgentsWrite),
	"POST /tunnel_sessions/:id/stop":                need(authz.AgentsWrite),
	"POST /tunnel_sessions/:id/update":              need(authz.AgentsWrite),
	"GET /tunnels":                                  need(authz.AgentsRead),
	"GET /tunnels/:id":                              need(authz.AgentsRead),
	"GET /ip_policies":                              need(authz.IPPoliciesRead),
	"POST /ip_policies":                             need(authz.IPPoliciesWrite),
	"GET /ip_policies/:id":                          need(authz.IPPoliciesRead),
	"PATCH /ip_policies/:id":                        need(authz.IPPoliciesWrite),
	"DELETE /ip_policies/:id":                       need(authz.IPPoliciesWrite),
	"GET /ip_policy_rules":                          need(authz.IPPoliciesRead),
	"POST /ip_policy_rules":                         need(authz.IPPoliciesWrite),
	"GET /ip_policy_rules/:id":                      need(authz.IPPoliciesRead),
	"PATCH /ip_policy_rules/:id":                    need(authz.IPPoliciesWrite),
	"DELETE /ip_policy_rules/:id":                   need(authz.IPPoliciesWrite),
	"GET /ip_restrictions":                          need(authz.IPRestrictionsRead),
	"POST /ip_restrictions":                         need(authz.IPRestrictionsWrite),
	"GET /ip_restrictions/:id":                      need(authz.IPRestrictionsRead),
	"PATCH /ip_restrictions/:id":                    need(authz.IPRestrictionsWrite),
	"DELETE /ip_restrictions/:id":                   need(authz.IPRestrictionsWrite),
}

// signedInRoute is the middleware of every signed-in dashboard route: the visitor must be signed
// in (else: the login page), then the route's rule is enforced.
func (s *Server) signedInRoute() echo.MiddlewareFunc {
	check := s.authz.Middleware(dashboardRules)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return auth.RequireUser(check(next))
	}
}
