// Package web holds what every bff handler shares: the principal behind a request (a signed-in
// user or an API key), rendering templ components, and building the page frame.
package web

import (
	"context"
	"net/http"

	"github.com/a-h/templ"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// Sources of a principal, as the reference's event principal names them.
const (
	SourceDashboard = "Dashboard"
	SourceAPI       = "API"
)

// Principal is who is acting: a user signed in to the dashboard, or an API key acting as its owner.
type Principal struct {
	UserID      string
	Email       string
	Name        string
	AccountID   string
	AccountName string
	Plan        string
	Roles       []string
	Source      string // SourceDashboard or SourceAPI
	APIKeyID    string // set when Source is SourceAPI
}

const principalKey = "edgeway.principal"

// CSRFKey is the echo context key the CSRF middleware stores the token under.
const CSRFKey = "csrf"

// SetPrincipal records who is acting on this request.
func SetPrincipal(c echo.Context, p Principal) { c.Set(principalKey, p) }

// PrincipalFrom returns who is acting on this request.
func PrincipalFrom(c echo.Context) (Principal, bool) {
	p, ok := c.Get(principalKey).(Principal)
	return p, ok
}

// IsHTMX reports whether htmx sent the request (and so expects a fragment).
func IsHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// CSRF returns the CSRF token for forms on this request.
func CSRF(c echo.Context) string {
	s, _ := c.Get(CSRFKey).(string)
	return s
}

// NewPage returns the frame of a dashboard page for this request.
func NewPage(c echo.Context, title, active string) frontend.Page {
	p := frontend.Page{Title: title, Active: active, CSRF: CSRF(c)}
	if pr, ok := PrincipalFrom(c); ok && pr.Source == SourceDashboard {
		p.Viewer = &frontend.Viewer{UserID: pr.UserID, Email: pr.Email, Name: pr.Name,
			AccountID: pr.AccountID, AccountName: pr.AccountName, Plan: pr.Plan}
	}
	return p
}

// Render writes a templ component with a status code.
func Render(c echo.Context, status int, comp templ.Component) error {
	return RenderCtx(c.Request().Context(), c, status, comp)
}

// RenderCtx is Render with an explicit context.
func RenderCtx(ctx context.Context, c echo.Context, status int, comp templ.Component) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return comp.Render(ctx, c.Response().Writer)
}

// Redirect answers a browser with a redirect, or htmx with HX-Location so it navigates.
func Redirect(c echo.Context, to string) error {
	if IsHTMX(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}
