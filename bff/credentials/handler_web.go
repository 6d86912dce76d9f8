package credentials

import (
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the dashboard's Authtokens page.
type WebHandler struct{ svc *Service }

// NewWebHandler returns a WebHandler.
func NewWebHandler(svc *Service) *WebHandler { return &WebHandler{svc: svc} }

func row(c Credential) frontend.AuthtokenRow {
	return frontend.AuthtokenRow{ID: c.ID, Description: c.Description, Prefix: c.TokenPrefix, ACL: c.ACL,
		CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt}
}

// Page handles GET /authtokens.
func (h *WebHandler) Page(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	cs, err := h.svc.List(c.Request().Context(), p, "", 100)
	if err != nil {
		return err
	}
	rows := make([]frontend.AuthtokenRow, 0, len(cs))
	for _, cr := range cs {
		rows = append(rows, row(cr))
	}
	return web.Render(c, http.StatusOK, frontend.AuthtokensPage(web.NewPage(c, "Authtokens", "authtokens"), rows))
}

// splitLines turns the ACL textarea (one rule per line) into rules.
func splitLines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Create handles POST /authtokens: the new token is shown once.
func (h *WebHandler) Create(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	desc, acl := c.FormValue("description"), c.FormValue("acl")
	created, err := h.svc.Create(c.Request().Context(), p, Input{Description: &desc, ACL: splitLines(acl)})
	if err != nil {
		if e, ok := httperr.As(err); ok && e.Status < 500 && len(e.Fields) > 0 {
			return web.Render(c, http.StatusUnprocessableEntity, frontend.AuthtokenForm(desc, acl, e.Fields))
		}
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/authtokens")
	}
	return web.Render(c, http.StatusCreated, frontend.AuthtokenCreated(row(created.Credential), created.Token))
}

// Delete handles DELETE /authtokens/{id}: revokes the token.
func (h *WebHandler) Delete(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.Delete(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/authtokens")
	}
	return c.String(http.StatusOK, "")
}
