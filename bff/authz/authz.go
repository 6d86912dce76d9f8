// Package authz applies the role-based access policy of package policies to requests: an
// enforcer that answers "may these roles do this?", the permissions a route needs, and the Echo
// middleware that refuses with the reference's error codes (1215-1219).
//
// Roles are read from the request's principal, which the session or API key middleware loads
// from Postgres on every request: nothing is cached, so a role change applies to the very next
// request on every bff replica.
package authz

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/policies"
	"github.com/labstack/echo/v4"
)

// Permission is an object and an action, such as "agents:write".
type Permission string

// Permissions the policy grants. Keep in step with policies/policy.csv.
const (
	AgentsRead          Permission = "agents:read"
	AgentsWrite         Permission = "agents:write"
	EndpointsRead       Permission = "endpoints:read"
	EndpointsWrite      Permission = "endpoints:write"
	CredentialsRead     Permission = "credentials:read"
	CredentialsWrite    Permission = "credentials:write"
	APIKeysRead         Permission = "api_keys:read"
	APIKeysWrite        Permission = "api_keys:write"
	IPPoliciesRead      Permission = "ip_policies:read"
	IPPoliciesWrite     Permission = "ip_policies:write"
	IPRestrictionsRead  Permission = "ip_restrictions:read"
	IPRestrictionsWrite Permission = "ip_restrictions:write"
	EventsRead          Permission = "events:read"
	EventsWrite         Permission = "events:write"
	TeamRead            Permission = "team:read"
	TeamInvite          Permission = "team:invite"
	TeamManage          Permission = "team:manage"
	BillingRead         Permission = "billing:read"
	BillingWrite        Permission = "billing:write"
	AccountRead         Permission = "account:read"
	AccountWrite        Permission = "account:write"
)

// All lists every permission.
var All = []Permission{AgentsRead, AgentsWrite, EndpointsRead, EndpointsWrite, CredentialsRead, CredentialsWrite,
	APIKeysRead, APIKeysWrite, IPPoliciesRead, IPPoliciesWrite, IPRestrictionsRead, IPRestrictionsWrite,
	EventsRead, EventsWrite, TeamRead, TeamInvite, TeamManage, BillingRead, BillingWrite, AccountRead, AccountWrite}

func (p Permission) split() (obj, act string) {
	obj, act, _ = strings.Cut(string(p), ":")
	return obj, act
}

// Enforcer answers whether a set of roles holds a permission.
type Enforcer struct{ e *casbin.SyncedEnforcer }

// New loads the embedded policy.
func New() (*Enforcer, error) {
	e, err := policies.NewEnforcer()
	if err != nil {
		return nil, err
	}
	return &Enforcer{e: e}, nil
}

// Allowed reports whether any of roles holds p.
func (e *Enforcer) Allowed(roles []string, p Permission) bool {
	obj, act := p.split()
	for _, r := range roles {
		if ok, err := e.e.Enforce(r, obj, act); err == nil && ok {
			return true
		}
	}
	return false
}

// Permissions returns every permission roles hold, keyed by its string (for templates).
func (e *Enforcer) Permissions(roles []string) map[string]bool {
	out := make(map[string]bool, len(All))
	for _, p := range All {
		if e.Allowed(roles, p) {
			out[string(p)] = true
		}
	}
	return out
}

// Check returns nil when the principal holds p, and the refusal otherwise. Services call it for
// decisions that depend on more than the route.
func (e *Enforcer) Check(p web.Principal, perm Permission) error {
	if e.Allowed(p.Roles, perm) {
		return nil
	}
	return Denied(perm)
}

// Denied is the refusal of perm: 403 with the reference's code and a message saying who can help.
func Denied(perm Permission) *httperr.Error {
	code, msg := httperr.CodeForbidden, ""
	obj, act := perm.split()
	switch {
	case perm == TeamInvite:
		code, msg = httperr.CodeNoInvitePermission, "You do not have permission to invite team members."
	case perm == TeamManage:
		code, msg = httperr.CodeNoManageMembersPermission, "You do not have permission to manage team members."
	case perm == BillingRead:
		code, msg = httperr.CodeNoViewBillingPermission, "You do not have permission to view billing."
	case perm == BillingWrite:
		code, msg = httperr.CodeNoChangeBillingPermission, "You do not have permission to change billing."
	case act == "write" && obj != "account" && obj != "ip_restrictions":
		code, msg = httperr.CodeNoDeveloperWritePermission,
			fmt.Sprintf("You do not have permission to change developer resources (%s).", strings.ReplaceAll(obj, "_", " "))
	case act == "write":
		msg = fmt.Sprintf("Only administrators may change %s.", strings.ReplaceAll(obj, "_", " "))
	default:
		msg = fmt.Sprintf("You do not have permission to view %s.", strings.ReplaceAll(obj, "_", " "))
	}
	e := httperr.New(http.StatusForbidden, code, msg+" Ask an administrator of the account to change your role.")
	e.Details = map[string]any{"permission": string(perm)}
	return e
}

// Rule is what a route needs: nothing (public), a signed-in principal, or a permission.
type Rule struct {
	kind ruleKind
	perm Permission
}

type ruleKind int

const (
	rulePublic ruleKind = iota + 1
	ruleSignedIn
	rulePermission
)

// Public is the rule of routes anyone may call (health, login, static files, invitation links).
var Public = Rule{kind: rulePublic}

// SignedIn is the rule of routes any member may use whatever their roles (their own profile, log out).
var SignedIn = Rule{kind: ruleSignedIn}

// Need is the rule of routes that need perm.
func Need(perm Permission) Rule { return Rule{kind: rulePermission, perm: perm} }

// Permission returns the permission the rule needs, if any.
func (r Rule) Permission() (Permission, bool) { return r.perm, r.kind == rulePermission }

// IsPublic reports whether the rule lets anyone through.
func (r Rule) IsPublic() bool { return r.kind == rulePublic }

// Valid reports whether the rule was built by Public, SignedIn or Need (the zero Rule is not).
func (r Rule) Valid() bool { return r.kind != 0 }

// String describes the rule, for test output.
func (r Rule) String() string {
	switch r.kind {
	case rulePublic:
		return "public"
	case ruleSignedIn:
		return "signed-in"
	case rulePermission:
		return string(r.perm)
	}
	return "unmapped"
}

// RouteKey is how route tables are keyed: "METHOD path" with Echo's path pattern.
func RouteKey(method, path string) string { return method + " " + path }

// Middleware enforces the rule of the matched route, looked up in rules by RouteKey. A route
// missing from rules is refused (and the route coverage test fails), so nothing is open by
// mistake. It runs after authentication, so the principal is known; it also records the
// principal's permissions for templates (frontend.Can), so forbidden actions can be hidden.
func (e *Enforcer) Middleware(rules map[string]Rule) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			rule, ok := rules[RouteKey(c.Request().Method, c.Path())]
			if !ok || !rule.Valid() {
				return httperr.Wrap(fmt.Errorf("route %s %s has no authorization rule", c.Request().Method, c.Path()),
					http.StatusForbidden, httperr.CodeForbidden, "This action is not available.")
			}
			p, signedIn := web.PrincipalFrom(c)
			if signedIn {
				req := c.Request()
				c.SetRequest(req.WithContext(frontend.WithPermissions(req.Context(), e.Permissions(p.Roles))))
			}
			switch rule.kind {
			case rulePublic:
				return next(c)
			case ruleSignedIn:
				if !signedIn {
					return unauthenticated()
				}
				return next(c)
			}
			if !signedIn {
				return unauthenticated()
			}
			if !e.Allowed(p.Roles, rule.perm) {
				return Denied(rule.perm)
			}
			return next(c)
		}
	}
}

func unauthenticated() error {
	return httperr.New(http.StatusUnauthorized, httperr.CodeUnauthorized, "Sign in to continue.")
}
