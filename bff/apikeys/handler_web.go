package apikeys

import (
	"net/http"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the dashboard's API keys page.
type WebHandler struct{ svc *Service }

// NewWebHandler returns a WebHandler.
func NewWebHandler(svc *Service) *WebHandler { return &WebHandler{svc: svc} }

func rows(keys []Key) []frontend.APIKeyRow {
	out := make([]frontend.APIKeyRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, row(k))
	}
	return out
}

func row(k Key) frontend.APIKeyRow {
	return frontend.APIKeyRow{ID: k.ID, Description: k.Description, OwnerID: k.OwnerID,
		Prefix: k.TokenPrefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}

// Page handles GET /api-keys.
func (h *WebHandler) Page(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	keys, err := h.svc.List(c.Request().Context(), p, "", 100)
	if err != nil {
		return err
	}
	return web.Render(c, http.StatusOK, frontend.APIKeysPage(web.NewPage(c, "API keys", "api-keys"), rows(keys)))
}

// Create handles POST /api-keys: the new key's secret is shown once.
func (h *WebHandler) Create(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	created, err := h.svc.Create(c.Request().Context(), p, c.FormValue("description"), "")
	if err != nil {
		if e, ok := httperr.As(err); ok && e.Status < 500 && len(e.Fields) > 0 {
			return web.Render(c, http.StatusUnprocessableEntity, frontend.APIKeyForm(c.FormValue("description"), e.Fields))
		}
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/api-keys")
	}
	return web.Render(c, http.StatusCreated, frontend.APIKeyCreated(row(created.Key), created.Token))
}

// Delete handles DELETE /api-keys/{id}.
func (h *WebHandler) Delete(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.Delete(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/api-keys")
	}
	return c.String(http.StatusOK, "")
}
