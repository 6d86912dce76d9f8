package ippolicy

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/labstack/echo/v4"
)

// WarningHeader carries the warn-only notice (ERR_EDGEWAY_1211) on responses a warn-only
// restriction would block once enforced.
const WarningHeader = "Edgeway-IP-Restriction-Warning"

// Enforcer is the middleware that applies the dashboard and API restrictions to requests.
//
// Where it runs. Restrictions belong to an account, so a request can only be judged once we know
// which account it acts for: the session cookie (dashboard) or the API key (API) says that.
// Identifying it is a single indexed lookup by the hash of the secret, with no password check and
// no side effect beyond "last seen", so the order is:
//
//	request ID, recover, logging, security headers, body limit   (server-wide)
//	CSRF                                                          (dashboard only)
//	identify: session cookie / API key -> account                 (auth.LoadSession, api.Authenticate)
//	IP restriction of that account      <- this middleware
//	version header, RequireUser, authorization, handler
//
// Nothing the account owns is read or changed before the check, and a blocked client learns
// nothing it did not already hold (its own valid secret). Requests that carry no identity (the
// login and sign-up pages, static files, health) belong to no account and pass; a blocked person
// who signs in is stopped on the very next request. The recovery pages and log-out are exempt so
// the way back in stays open.
type Enforcer struct {
	log   *slog.Logger
	cache *Cache
}

// NewEnforcer returns an Enforcer reading through cache.
func NewEnforcer(log *slog.Logger, cache *Cache) *Enforcer {
	return &Enforcer{log: log, cache: cache}
}

// exempt reports whether a dashboard path stays reachable for a blocked person.
func exempt(path string) bool {
	return path == "/logout" || path == "/login" || path == "/signup" || path == "/ip-recovery" ||
		strings.HasPrefix(path, "/ip-recovery/")
}

func (e *Enforcer) verdict(c echo.Context, typ string) (Verdict, bool, error) {
	p, ok := web.PrincipalFrom(c)
	if !ok {
		return Verdict{}, false, nil
	}
	ip, err := ipmatch.ParseAddr(c.RealIP())
	if err != nil {
		// The socket always has an address; an unparsable one is denied by every restriction.
		e.log.Warn("client ip unparsable", "remote", c.RealIP(), "err", err)
	}
	v, err := e.cache.Check(c.Request().Context(), p.AccountID, typ, ip)
	if err != nil {
		return Verdict{}, false, httperr.Internal(fmt.Errorf("check ip restriction: %w", err))
	}
	if v.Applies() && !v.Decision.Allowed {
		attrs := []any{"account_id", p.AccountID, "user_id", p.UserID, "client_ip", ip.String(), "ip_restriction_id", v.Compiled.Restriction.ID,
			"type", typ, "enforced", v.Compiled.Restriction.Enforced, "ip_policy_id", v.Decision.Rule.PolicyID, "ip_policy_rule_id", v.Decision.Rule.ID,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID)}
		if v.Blocked() {
			e.log.Info("ip restriction blocked request", attrs...)
		} else {
			e.log.Info("ip restriction warned request", attrs...)
		}
	}
	return v, true, nil
}

// explain says in a sentence fragment why v denies its address.
func explain(v Verdict) string {
	if !v.Decision.Matched {
		return "no rule of its policies matches the address, and an address no rule matches is denied"
	}
	r := v.Decision.Rule
	return fmt.Sprintf("the rule %s (%s %s) of policy %s denies it", r.ID, r.Action, r.Prefix, v.Compiled.PolicyName(r.PolicyID))
}

func warn(c echo.Context, v Verdict) {
	c.Response().Header().Set(WarningHeader, headerSafe(fmt.Sprintf("%s: the %s IP restriction %s would block %s once enforced: %s",
		httperr.CodeIPWarnDashboard, v.Compiled.Restriction.Type, v.Compiled.Restriction.ID, v.IP, explain(v))))
}

// headerSafe keeps printable ASCII (policy descriptions are user text) for a header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// Dashboard is middleware for the dashboard listener, after the session is resolved: the
// account's dashboard restriction applies to every request but the exempt ones.
func (e *Enforcer) Dashboard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if exempt(c.Request().URL.Path) {
			return next(c)
		}
		v, ok, err := e.verdict(c, TypeDashboard)
		if err != nil {
			return err
		}
		if !ok || !v.Applies() || v.Decision.Allowed {
			return next(c)
		}
		if v.Warned() {
			warn(c, v)
			req := c.Request()
			c.SetRequest(req.WithContext(frontend.WithIPWarning(req.Context(), frontend.IPWarning{
				ClientIP: v.IP.String(), RestrictionID: v.Compiled.Restriction.ID, Explanation: explain(v)})))
			return next(c)
		}
		p, _ := web.PrincipalFrom(c)
		msg := fmt.Sprintf("Your IP address %s may not use this account's dashboard: the dashboard IP restriction %s blocks it (%s).",
			v.IP, v.Compiled.Restriction.ID, explain(v))
		accept := c.Request().Header.Get(echo.HeaderAccept)
		if web.IsHTMX(c) || (strings.Contains(accept, echo.MIMEApplicationJSON) && !strings.Contains(accept, echo.MIMETextHTML)) {
			if web.IsHTMX(c) {
				c.Response().Header().Set("HX-Refresh", "true") // reload: the full blocked page, with the recovery form
			}
			return blocked(httperr.CodeIPBlockedDashboard, msg, v)
		}
		view := frontend.IPBlockedView{ClientIP: v.IP.String(), AccountName: p.AccountName, RestrictionID: v.Compiled.Restriction.ID,
			Explanation: explain(v), Email: p.Email, Code: httperr.CodeIPBlockedDashboard}
		if v.Decision.Matched {
			view.PolicyID, view.PolicyName = v.Decision.Rule.PolicyID, v.Compiled.PolicyName(v.Decision.Rule.PolicyID)
			view.RuleID, view.RuleCIDR = v.Decision.Rule.ID, v.Decision.Rule.Prefix.String()
		}
		page := web.NewPage(c, "Blocked by an IP restriction", "")
		page.Viewer = nil // the navigation would only lead to more blocked pages
		return web.Render(c, http.StatusForbidden, frontend.IPBlockedPage(page, view))
	}
}

// API is middleware for the API listener, after the API key is resolved: the account's api
// restriction applies to every call.
func (e *Enforcer) API(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		v, ok, err := e.verdict(c, TypeAPI)
		if err != nil {
			return err
		}
		if !ok || !v.Applies() || v.Decision.Allowed {
			return next(c)
		}
		if v.Warned() {
			warn(c, v)
			return next(c)
		}
		return blocked(httperr.CodeIPBlockedAPI, fmt.Sprintf("Your IP address %s may not use this account's API: the API IP restriction %s blocks it (%s).",
			v.IP, v.Compiled.Restriction.ID, explain(v)), v)
	}
}

func blocked(code, msg string, v Verdict) error {
	e := httperr.New(http.StatusForbidden, code, msg)
	e.Details = map[string]any{"client_ip": v.IP.String(), "ip_restriction_id": v.Compiled.Restriction.ID,
		"ip_policy_id": v.Decision.Rule.PolicyID, "ip_policy_rule_id": v.Decision.Rule.ID}
	return e
}
