package team

import (
	"net/http"
	"slices"
	"strings"

	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the Team page and the invitation links.
type WebHandler struct {
	svc      *Service
	auth     *auth.Service
	sessions *auth.Handler
}

// NewWebHandler returns a WebHandler; authSvc and sessions sign in people who accept an invitation.
func NewWebHandler(svc *Service, authSvc *auth.Service, sessions *auth.Handler) *WebHandler {
	return &WebHandler{svc: svc, auth: authSvc, sessions: sessions}
}

func labels(roles []string) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, auth.RoleLabels[r])
	}
	return out
}

func choiceView(c auth.RoleChoice) frontend.RoleChoiceView {
	return frontend.RoleChoiceView{Admin: c.Admin, Developer: c.Developer, Team: c.Team, Billing: c.Billing}
}

// roleChoice reads the role fields of a form.
func roleChoice(c echo.Context) auth.RoleChoice {
	return auth.RoleChoice{Admin: c.FormValue("admin") == "on", Developer: c.FormValue("developer"),
		Team: c.FormValue("team"), Billing: c.FormValue("billing") == "on"}
}

func (h *WebHandler) render(c echo.Context, status int, form frontend.InviteForm, errMsg string) error {
	p, _ := web.PrincipalFrom(c)
	o, err := h.svc.Overview(c.Request().Context(), p)
	if err != nil {
		return err
	}
	v := frontend.TeamView{Paid: o.Paid, PlanLabel: o.PlanLabel, UpgradeLabel: o.Upgrade.Label,
		UpgradeUsers: o.Upgrade.Limits["users"], UsersUsed: o.UsersUsed, UsersMax: o.UsersMax,
		ViewerAdmin: slices.Contains(p.Roles, auth.RoleAdmin), Invite: form, Error: errMsg}
	for _, m := range o.Members {
		v.Members = append(v.Members, frontend.TeamMemberRow{UserID: m.UserID, Email: m.Email, Name: m.Name,
			RoleLabels: labels(m.Roles), Choice: choiceView(auth.ChoiceOf(m.Roles)), Admin: slices.Contains(m.Roles, auth.RoleAdmin),
			Disabled: m.DisabledAt != nil, Self: m.UserID == p.UserID, JoinedAt: m.JoinedAt, LastSeenAt: m.LastSeenAt})
	}
	now := h.svc.now()
	for _, inv := range o.Invitations {
		v.Invitations = append(v.Invitations, frontend.TeamInvitationRow{ID: inv.ID, Email: inv.Email,
			RoleLabels: labels(inv.Roles), SentAt: inv.SentAt, ExpiresAt: inv.ExpiresAt, Expired: !now.Before(inv.ExpiresAt)})
	}
	return web.Render(c, status, frontend.TeamPage(web.NewPage(c, "Team", "team"), v))
}

// Page handles GET /team.
func (h *WebHandler) Page(c echo.Context) error {
	return h.render(c, http.StatusOK, frontend.InviteForm{Choice: frontend.RoleChoiceView{Developer: "read_only", Team: "none"}}, "")
}

// refused renders the page again with a client error, or passes a server error on.
func (h *WebHandler) refused(c echo.Context, err error, form frontend.InviteForm) error {
	e, ok := httperr.As(err)
	if !ok || e.Status >= 500 || e.Status == http.StatusForbidden || e.Status == http.StatusNotFound {
		return err
	}
	form.Errors = e.Fields
	status := e.Status
	if status == http.StatusBadRequest {
		status = http.StatusUnprocessableEntity
	}
	return h.render(c, status, form, e.Msg)
}

// Invite handles POST /team/invitations.
func (h *WebHandler) Invite(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	choice := roleChoice(c)
	form := frontend.InviteForm{Email: strings.TrimSpace(c.FormValue("email")), Choice: choiceView(choice)}
	roles, err := choice.Roles()
	if err != nil {
		return h.refused(c, httperr.Validation("Choose the roles to give.", map[string]string{"roles": err.Error()}), form)
	}
	if _, err := h.svc.Invite(c.Request().Context(), p, form.Email, roles); err != nil {
		return h.refused(c, err, form)
	}
	return web.Redirect(c, "/team")
}

// Resend handles POST /team/invitations/{id}/resend.
func (h *WebHandler) Resend(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.Resend(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	return web.Redirect(c, "/team")
}

// Revoke handles DELETE /team/invitations/{id}.
func (h *WebHandler) Revoke(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.RevokeInvitation(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	return web.Redirect(c, "/team")
}

// memberAction renders the Team page with a refused action's message, or redirects back to it.
func (h *WebHandler) memberAction(c echo.Context, err error) error {
	if err == nil {
		return web.Redirect(c, "/team")
	}
	if e, ok := httperr.As(err); ok && (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest) {
		return h.render(c, http.StatusConflict, frontend.InviteForm{Choice: frontend.RoleChoiceView{Developer: "read_only", Team: "none"}}, e.Msg)
	}
	return err
}

// ChangeRoles handles POST /team/members/{id}/roles.
func (h *WebHandler) ChangeRoles(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	roles, err := roleChoice(c).Roles()
	if err != nil {
		return h.memberAction(c, httperr.Validation(err.Error(), nil))
	}
	return h.memberAction(c, h.svc.ChangeRoles(c.Request().Context(), p, c.Param("id"), roles))
}

// Disable handles POST /team/members/{id}/disable.
func (h *WebHandler) Disable(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	return h.memberAction(c, h.svc.SetDisabled(c.Request().Context(), p, c.Param("id"), true))
}

// Enable handles POST /team/members/{id}/enable.
func (h *WebHandler) Enable(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	return h.memberAction(c, h.svc.SetDisabled(c.Request().Context(), p, c.Param("id"), false))
}

// Delete handles DELETE /team/members/{id}.
func (h *WebHandler) Delete(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	return h.memberAction(c, h.svc.Delete(c.Request().Context(), p, c.Param("id")))
}

func (h *WebHandler) invitationPage(c echo.Context, status int, v frontend.InvitationView) error {
	return web.Render(c, status, frontend.InvitationPage(web.NewPage(c, "Join "+v.AccountName, ""), v))
}

// AcceptPage handles GET /invitations/{token}: anyone with the link may open it.
func (h *WebHandler) AcceptPage(c echo.Context) error {
	token := c.Param("token")
	info, err := h.svc.Invitation(c.Request().Context(), token)
	if err != nil {
		return err
	}
	return h.invitationPage(c, http.StatusOK, frontend.InvitationView{Token: token, Email: info.Email,
		AccountName: info.AccountName, RoleLabels: labels(info.Roles), Existing: info.Existing})
}

// Accept handles POST /invitations/{token}: creates or checks the user, joins them to the
// account and signs them in to it.
func (h *WebHandler) Accept(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	info, err := h.svc.Invitation(ctx, token)
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	userID, accountID, err := h.svc.Accept(ctx, token, name, c.FormValue("password"))
	if err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 || e.Status == http.StatusGone {
			return err
		}
		v := frontend.InvitationView{Token: token, Email: info.Email, AccountName: info.AccountName,
			RoleLabels: labels(info.Roles), Existing: info.Existing, Name: name, Errors: e.Fields}
		if len(e.Fields) == 0 {
			v.Error = e.Msg
		}
		return h.invitationPage(c, http.StatusUnprocessableEntity, v)
	}
	s, err := h.auth.StartSession(ctx, userID, accountID, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		return err
	}
	h.sessions.SetSession(c, s)
	return web.Redirect(c, "/agents")
}
