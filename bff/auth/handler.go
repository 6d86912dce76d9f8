package auth

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// CookieName is the browser session cookie.
const CookieName = "ew_session"

// Handler serves sign-up, login and logout, and resolves sessions for the dashboard.
type Handler struct {
	svc          *Service
	secureCookie bool
}

// NewHandler returns a Handler; secureCookie marks the session cookie Secure (HTTPS deployments).
func NewHandler(svc *Service, secureCookie bool) *Handler {
	return &Handler{svc: svc, secureCookie: secureCookie}
}

// LoadSession is middleware that resolves the session cookie, if any, into the request's principal.
func (h *Handler) LoadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(CookieName)
		if err == nil && ck.Value != "" {
			v, ok, err := h.svc.Resolve(c.Request().Context(), ck.Value)
			if err != nil {
				return httperr.Internal(err)
			}
			if ok {
				web.SetPrincipal(c, principal(v))
			} else {
				h.clearCookie(c)
			}
		}
		return next(c)
	}
}

// RequireUser is middleware for signed-in pages: anyone else is sent to the login page
// (htmx requests get HX-Redirect, JSON clients a 401).
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := web.PrincipalFrom(c); ok {
			return next(c)
		}
		req := c.Request()
		if req.Method == http.MethodGet && !web.IsHTMX(c) {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(req.URL.RequestURI()))
		}
		if web.IsHTMX(c) {
			c.Response().Header().Set("HX-Redirect", "/login")
		}
		return httperr.New(http.StatusUnauthorized, httperr.CodeUnauthorized, "Your session has ended. Log in again to continue.")
	}
}

func principal(v Viewer) web.Principal {
	return web.Principal{UserID: v.UserID, Email: v.Email, Name: v.Name, AccountID: v.AccountID,
		AccountName: v.AccountName, Plan: v.Plan, Roles: v.Roles, Source: web.SourceDashboard}
}

// safeNext keeps post-login redirects on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/agents"
	}
	return next
}

// LoginPage shows the login form.
func (h *Handler) LoginPage(c echo.Context) error {
	if _, ok := web.PrincipalFrom(c); ok {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return web.Render(c, http.StatusOK, frontend.LoginPage(web.NewPage(c, "Log in", ""), frontend.LoginForm{Next: c.QueryParam("next")}))
}

// Login checks the credentials and starts a new session, replacing any session the browser had.
func (h *Handler) Login(c echo.Context) error {
	email, password, next := c.FormValue("email"), c.FormValue("password"), c.FormValue("next")
	h.endCurrent(c)
	s, err := h.svc.Login(c.Request().Context(), email, password, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		if e.Status == http.StatusTooManyRequests {
			if secs, ok := e.Details["retry_after_seconds"].(int); ok {
				c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			}
		}
		form := frontend.LoginForm{Email: email, Next: next, Error: e.Msg}
		return web.Render(c, e.Status, frontend.LoginPage(web.NewPage(c, "Log in", ""), form))
	}
	h.setCookie(c, s)
	return web.Redirect(c, safeNext(next))
}

// SignupPage shows the sign-up form.
func (h *Handler) SignupPage(c echo.Context) error {
	return web.Render(c, http.StatusOK, frontend.SignupPage(web.NewPage(c, "Sign up", ""), frontend.SignupForm{}))
}

// Signup creates an account and its administrator, then signs them in.
func (h *Handler) Signup(c echo.Context) error {
	in := SignupInput{AccountName: c.FormValue("account_name"), Name: c.FormValue("name"),
		Email: c.FormValue("email"), Password: c.FormValue("password")}
	s, err := h.svc.Signup(c.Request().Context(), in, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		e, ok := httperr.As(err)
		if !ok || e.Status >= 500 {
			return err
		}
		in.Normalize()
		form := frontend.SignupForm{AccountName: in.AccountName, Name: in.Name, Email: in.Email, Errors: e.Fields}
		if len(e.Fields) == 0 {
			form.Error = e.Msg
		}
		status := e.Status
		if status == http.StatusBadRequest {
			status = http.StatusUnprocessableEntity
		}
		return web.Render(c, status, frontend.SignupPage(web.NewPage(c, "Sign up", ""), form))
	}
	h.endCurrent(c)
	h.setCookie(c, s)
	return web.Redirect(c, "/agents")
}

// Logout ends the session and returns to the login page.
func (h *Handler) Logout(c echo.Context) error {
	h.endCurrent(c)
	h.clearCookie(c)
	return web.Redirect(c, "/login")
}

// endCurrent deletes the session the browser presents, if any (rotation on login).
func (h *Handler) endCurrent(c echo.Context) {
	if ck, err := c.Cookie(CookieName); err == nil {
		if err := h.svc.Logout(c.Request().Context(), ck.Value); err != nil && !errors.Is(err, http.ErrNoCookie) {
			c.Logger().Warnf("end session: %v", err)
		}
	}
}

func (h *Handler) setCookie(c echo.Context, s Session) {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: s.Token, Path: "/", Expires: s.Expires,
		HttpOnly: true, Secure: h.secureCookie, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookie, SameSite: http.SameSiteLaxMode})
}
