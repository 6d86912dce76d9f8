package ippolicy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the dashboard's IP Restrictions page and the recovery pages.
type WebHandler struct {
	svc      *Service
	recovery *Recovery
}

// NewWebHandler returns a WebHandler.
func NewWebHandler(svc *Service, recovery *Recovery) *WebHandler {
	return &WebHandler{svc: svc, recovery: recovery}
}

var typeText = map[string][2]string{
	TypeDashboard: {"Dashboard", "Who may use this dashboard: checked on every page and request once you are signed in."},
	TypeAPI:       {"API", "Who may call the API with this account's API keys."},
	TypeAgent:     {"Agents", "Where agents may connect from with this account's authtokens (checked by the edges)."},
	TypeEndpoints: {"Endpoints", "Who may reach this account's endpoints (checked by the edges on every connection and request)."},
}

func selfCheck(c echo.Context) SelfCheck {
	ip, _ := ipmatch.ParseAddr(c.RealIP())
	return SelfCheck{IP: ip, Confirmed: c.FormValue("confirm") == "1"}
}

func ruleRow(r Rule) frontend.IPRuleRow {
	return frontend.IPRuleRow{ID: r.ID, PolicyID: r.PolicyID, CIDR: r.CIDR, Action: r.Action, Description: r.Description, CreatedAt: r.CreatedAt}
}

func policyLabel(p Policy) string {
	if p.Description == "" {
		return p.ID
	}
	return p.Description + " (" + p.ID + ")"
}

func (h *WebHandler) card(o Overview, typ string) frontend.IPRestrictionCard {
	text := typeText[typ]
	c := frontend.IPRestrictionCard{Type: typ, Label: text[0], Blurb: text[1]}
	if r, ok := o.Restrictions[typ]; ok {
		c.ID, c.Enforced, c.PolicyIDs = r.ID, r.Enforced, r.PolicyIDs
	}
	for _, p := range o.Policies {
		c.Options = append(c.Options, frontend.IPPolicyOption{ID: p.ID, Label: policyLabel(p)})
	}
	return c
}

func (h *WebHandler) view(ctx context.Context, c echo.Context, p web.Principal) (frontend.IPRestrictionsView, Overview, error) {
	o, err := h.svc.Overview(ctx, p)
	if err != nil {
		return frontend.IPRestrictionsView{}, o, err
	}
	ip, _ := ipmatch.ParseAddr(c.RealIP())
	v := frontend.IPRestrictionsView{ClientIP: ip.String()}
	verdict, err := h.svc.cache.Check(ctx, p.AccountID, TypeDashboard, ip)
	if err != nil {
		return v, o, httperr.Internal(err)
	}
	switch {
	case !verdict.Applies():
		v.DashboardOK, v.Dashboard = true, "No dashboard restriction: every address may use the dashboard."
	case verdict.Decision.Allowed:
		r := verdict.Decision.Rule
		v.DashboardOK = true
		v.Dashboard = fmt.Sprintf("The dashboard restriction allows it: the rule %s (allow %s) of policy %s matches it most specifically.",
			r.ID, r.Prefix, verdict.Compiled.PolicyName(r.PolicyID))
	default:
		v.Dashboard = fmt.Sprintf("The dashboard restriction (warn only) would block it: %s.", explain(verdict))
	}
	for _, pol := range o.Policies {
		pc := frontend.IPPolicyCard{ID: pol.ID, Description: pol.Description}
		for _, r := range o.Rules[pol.ID] {
			pc.Rules = append(pc.Rules, ruleRow(r))
		}
		for _, t := range Types {
			if r, ok := o.Restrictions[t]; ok && slices.Contains(r.PolicyIDs, pol.ID) {
				pc.UsedBy = append(pc.UsedBy, t)
			}
		}
		v.Policies = append(v.Policies, pc)
	}
	for _, t := range Types {
		v.Restrictions = append(v.Restrictions, h.card(o, t))
	}
	return v, o, nil
}

// Page handles GET /ip-restrictions.
func (h *WebHandler) Page(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	v, _, err := h.view(c.Request().Context(), c, p)
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, frontend.IPRestrictionsPage(web.NewPage(c, "IP Restrictions", "ip-restrictions"), v))
}

// CreatePolicy handles POST /ip-restrictions/policies (a plain form: the page is reloaded).
func (h *WebHandler) CreatePolicy(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	desc := strings.TrimSpace(c.FormValue("description"))
	if _, err := h.svc.CreatePolicy(c.Request().Context(), p, PolicyInput{Description: &desc}); err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		v, _, verr := h.view(c.Request().Context(), c, p)
		if verr != nil {
			return verr
		}
		status := http.StatusUnprocessableEntity
		if v.PolicyErrors = e.Fields; len(e.Fields) == 0 {
			v.PolicyError, status = e.Msg, e.Status // a plan limit: above the form
		}
		return web.Render(c, status, frontend.IPRestrictionsPage(web.NewPage(c, "IP Restrictions", "ip-restrictions"), v))
	}
	return web.Redirect(c, "/ip-restrictions")
}

// DeletePolicy handles DELETE /ip-restrictions/policies/{id}.
func (h *WebHandler) DeletePolicy(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.DeletePolicy(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	return web.Redirect(c, "/ip-restrictions")
}

// CreateRule handles POST /ip-restrictions/policies/{id}/rules: the new row is appended, or the
// form comes back with the problem, or with the self-lockout explanation to confirm.
func (h *WebHandler) CreateRule(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	f := frontend.IPRuleForm{PolicyID: c.Param("id"), CIDR: c.FormValue("cidr"), Action: c.FormValue("action"), Description: c.FormValue("description")}
	r, err := h.svc.CreateRule(c.Request().Context(), p, selfCheck(c), RuleInput{PolicyID: f.PolicyID, CIDR: &f.CIDR, Action: &f.Action, Description: &f.Description})
	if err != nil {
		if l, ok := AsLockout(err); ok {
			f.Lockout = l.Message()
			return web.Render(c, http.StatusConflict, frontend.IPRuleFormFragment(f))
		}
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 || len(e.Fields) == 0 {
			return err
		}
		f.Errors = e.Fields
		return web.Render(c, http.StatusUnprocessableEntity, frontend.IPRuleFormFragment(f))
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/ip-restrictions")
	}
	return web.Render(c, http.StatusCreated, frontend.IPRuleCreated(ruleRow(r)))
}

// DeleteRule handles DELETE /ip-restrictions/rules/{id} (?confirm=1 after a self-lockout
// warning): the row goes, or stays with the reason.
func (h *WebHandler) DeleteRule(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	ctx := c.Request().Context()
	id := c.Param("id")
	err := h.svc.DeleteRule(ctx, p, selfCheck(c), id)
	if err == nil {
		if !web.IsHTMX(c) {
			return c.Redirect(http.StatusSeeOther, "/ip-restrictions")
		}
		return c.String(http.StatusOK, "")
	}
	r, gerr := h.svc.GetRule(ctx, p, id)
	if gerr != nil {
		return err
	}
	row := ruleRow(r)
	if l, ok := AsLockout(err); ok {
		row.Lockout = l.Message()
		return web.Render(c, http.StatusConflict, frontend.IPRuleTableRow(row))
	}
	e, ok := httperr.As(err)
	if !ok || e.Status >= 500 {
		return err
	}
	row.Error = e.Msg
	return web.Render(c, e.Status, frontend.IPRuleTableRow(row))
}

// SaveRestriction handles POST /ip-restrictions/restrictions/{type}: creates or updates the
// restriction of that type; a change that would block the person saving it asks to confirm.
func (h *WebHandler) SaveRestriction(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	ctx := c.Request().Context()
	typ := c.Param("type")
	if err := ValidType(typ); err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeValidation, "The form could not be read.")
	}
	policyIDs := form["ip_policy_ids"]
	if policyIDs == nil {
		policyIDs = []string{}
	}
	enforced := form.Get("enforced") == "1"
	o, err := h.svc.Overview(ctx, p)
	if err != nil {
		return err
	}
	if existing, ok := o.Restrictions[typ]; ok {
		_, err = h.svc.UpdateRestriction(ctx, p, selfCheck(c), existing.ID, RestrictionInput{Enforced: &enforced, PolicyIDs: policyIDs})
	} else {
		_, err = h.svc.CreateRestriction(ctx, p, selfCheck(c), RestrictionInput{Type: &typ, Enforced: &enforced, PolicyIDs: policyIDs})
	}
	status := http.StatusOK
	var card frontend.IPRestrictionCard
	if err != nil {
		card = h.card(o, typ)
		card.Enforced, card.PolicyIDs = enforced, policyIDs
		if l, ok := AsLockout(err); ok {
			card.Lockout, status = l.Message(), http.StatusConflict
		} else if e, ok := httperr.As(err); ok && e.Status < 500 {
			card.Errors, status = e.Fields, http.StatusUnprocessableEntity
			if len(card.Errors) == 0 {
				card.Errors = map[string]string{"ip_policy_ids": e.Msg}
				if e.Code == httperr.CodePlanLimit {
					status = e.Status
				}
			}
		} else {
			return err
		}
	} else {
		if o, err = h.svc.Overview(ctx, p); err != nil {
			return err
		}
		card = h.card(o, typ)
		card.Saved = true
	}
	if !web.IsHTMX(c) && err == nil {
		return c.Redirect(http.StatusSeeOther, "/ip-restrictions")
	}
	return web.Render(c, status, frontend.IPRestrictionForm(card))
}

// DeleteRestriction handles DELETE /ip-restrictions/restrictions/{type}.
func (h *WebHandler) DeleteRestriction(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	ctx := c.Request().Context()
	typ := c.Param("type")
	o, err := h.svc.Overview(ctx, p)
	if err != nil {
		return err
	}
	if r, ok := o.Restrictions[typ]; ok {
		if err := h.svc.DeleteRestriction(ctx, p, r.ID); err != nil {
			return err
		}
		delete(o.Restrictions, typ)
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/ip-restrictions")
	}
	return web.Render(c, http.StatusOK, frontend.IPRestrictionForm(h.card(o, typ)))
}

func recoveryPage(c echo.Context, title string) frontend.Page {
	page := web.NewPage(c, title, "")
	page.Viewer = nil
	return page
}

// RecoveryRequestPage handles GET /ip-recovery: the "email a recovery link" form on its own.
func (h *WebHandler) RecoveryRequestPage(c echo.Context) error {
	r := frontend.IPRecoveryRequest{}
	if p, ok := web.PrincipalFrom(c); ok {
		r.Email = p.Email
	}
	return web.Render(c, http.StatusOK, frontend.IPRecoveryRequestPage(recoveryPage(c, "Recover dashboard access"), r))
}

// RequestRecovery handles POST /ip-recovery: the same answer whatever the email.
func (h *WebHandler) RequestRecovery(c echo.Context) error {
	r := frontend.IPRecoveryRequest{Email: strings.TrimSpace(c.FormValue("email"))}
	status := http.StatusOK
	if err := h.recovery.Request(c.Request().Context(), r.Email, c.RealIP()); err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		r.Error, status = e.Msg, e.Status
	} else {
		r.Sent = true
	}
	if web.IsHTMX(c) {
		return web.Render(c, status, frontend.IPRecoveryForm(web.CSRF(c), r))
	}
	return web.Render(c, status, frontend.IPRecoveryRequestPage(recoveryPage(c, "Recover dashboard access"), r))
}

// RecoveryPage handles GET /ip-recovery/{token}: after sign-in, the administrator chooses how to
// restore access. The link is not used until they do.
func (h *WebHandler) RecoveryPage(c echo.Context) error {
	p, ok := web.PrincipalFrom(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.Path))
	}
	token := c.Param("token")
	ip, _ := ipmatch.ParseAddr(c.RealIP())
	v := frontend.IPRecoveryView{Token: token, ClientIP: ip.String()}
	t, dash, err := h.recovery.Inspect(c.Request().Context(), p, token)
	status := http.StatusOK
	if err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		v.Error, status = e.Msg, e.Status
	} else {
		v.ExpiresAt, v.RestrictionID, v.Enforced = t.ExpiresAt, dash.ID, dash.Enforced
	}
	return web.Render(c, status, frontend.IPRecoveryPage(recoveryPage(c, "Restore dashboard access"), v))
}

// Recover handles POST /ip-recovery/{token}: uses the link and returns to the IP restrictions.
func (h *WebHandler) Recover(c echo.Context) error {
	p, ok := web.PrincipalFrom(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.Path))
	}
	ip, _ := ipmatch.ParseAddr(c.RealIP())
	if err := h.recovery.Apply(c.Request().Context(), p, c.Param("token"), ip, c.FormValue("action")); err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		v := frontend.IPRecoveryView{Token: c.Param("token"), ClientIP: ip.String(), Error: e.Msg}
		return web.Render(c, e.Status, frontend.IPRecoveryPage(recoveryPage(c, "Restore dashboard access"), v))
	}
	return web.Redirect(c, "/ip-restrictions?recovered=1")
}
