package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/labstack/echo/v4"
)

// Commander sends stop and restart to agent sessions (the control Server implements it).
type Commander interface {
	Command(ctx context.Context, accountID, sessionID, action, reason string) error
}

// Session command actions.
const (
	ActionStop    = "stop"
	ActionRestart = "restart"
)

// CodeUpdateUnsupported answers POST /tunnel_sessions/{id}/update.
const CodeUpdateUnsupported = "ERR_EDGEWAY_UPDATE_UNSUPPORTED"

// APIHandler serves /tunnel_sessions and /tunnels.
type APIHandler struct {
	store *Store
	cmd   Commander
	uris  api.URIs
}

// NewAPIHandler returns an APIHandler.
func NewAPIHandler(store *Store, cmd Commander, uris api.URIs) *APIHandler {
	return &APIHandler{store: store, cmd: cmd, uris: uris}
}

// SessionJSON is a tunnel session as the API shows it (the reference's fields, plus a few).
type SessionJSON struct {
	ID               string  `json:"id"`
	URI              string  `json:"uri"`
	AgentVersion     string  `json:"agent_version"`
	Credential       api.Ref `json:"credential"`
	IP               string  `json:"ip"`
	Metadata         string  `json:"metadata"`
	OS               string  `json:"os"`
	Arch             string  `json:"arch"`
	Hostname         string  `json:"hostname"`
	Region           string  `json:"region"`
	StartedAt        string  `json:"started_at"`
	Transport        string  `json:"transport"`
	RemoteManagement bool    `json:"remote_management"`
	Stale            bool    `json:"stale"`
}

// TunnelJSON is a tunnel as the API shows it.
type TunnelJSON struct {
	ID            string  `json:"id"`
	URI           string  `json:"uri"`
	PublicURL     string  `json:"public_url"`
	StartedAt     string  `json:"started_at"`
	Metadata      string  `json:"metadata"`
	Proto         string  `json:"proto"`
	Region        string  `json:"region"`
	TunnelSession api.Ref `json:"tunnel_session"`
	ForwardsTo    string  `json:"forwards_to"`
}

func (h *APIHandler) sessionJSON(s Session) SessionJSON {
	return SessionJSON{ID: s.ID, URI: h.uris.Resource("/tunnel_sessions/" + s.ID), AgentVersion: s.AgentVersion,
		Credential: api.Ref{ID: s.CredentialID, URI: h.uris.Resource("/credentials/" + s.CredentialID)},
		IP:         s.IP, Metadata: s.Metadata, OS: s.OS, Arch: s.Arch, Hostname: s.Hostname, Region: s.Region,
		StartedAt: s.StartedAt.UTC().Format(time.RFC3339), Transport: s.Transport, RemoteManagement: s.RemoteManagement,
		Stale: s.StaleSince != nil}
}

func (h *APIHandler) tunnelJSON(t Tunnel) TunnelJSON {
	return TunnelJSON{ID: t.ID, URI: h.uris.Resource("/tunnels/" + t.ID), PublicURL: t.PublicURL,
		StartedAt: t.StartedAt.UTC().Format(time.RFC3339), Metadata: t.Metadata, Proto: t.Proto, Region: t.Region,
		TunnelSession: api.Ref{ID: t.SessionID, URI: h.uris.Resource("/tunnel_sessions/" + t.SessionID)}, ForwardsTo: t.ForwardsTo}
}

// ListSessions handles GET /tunnel_sessions.
func (h *APIHandler) ListSessions(c echo.Context) error {
	page, err := api.ParsePage(c, ids.TunnelSession)
	if err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	fetch := func(before string, n int) ([]SessionJSON, error) {
		list, err := h.store.Sessions(c.Request().Context(), p.AccountID, before, n)
		if err != nil {
			return nil, httperr.Internal(err)
		}
		return api.Map(list, h.sessionJSON), nil
	}
	var out struct {
		TunnelSessions []SessionJSON `json:"tunnel_sessions"`
		URI            string        `json:"uri"`
		NextPageURI    *string       `json:"next_page_uri"`
	}
	var err2 error
	out.TunnelSessions, out.URI, out.NextPageURI, err2 = listFiltered(c, h.uris, page, fetch, func(s SessionJSON) string { return s.ID })
	if err2 != nil {
		return err2
	}
	return c.JSON(http.StatusOK, out)
}

// GetSession handles GET /tunnel_sessions/{id}.
func (h *APIHandler) GetSession(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	s, err := h.store.Session(c.Request().Context(), p.AccountID, c.Param("id"))
	if err != nil {
		return sessionNotFound(err, c.Param("id"))
	}
	return c.JSON(http.StatusOK, h.sessionJSON(s))
}

func (h *APIHandler) command(c echo.Context, action string) error {
	var body struct{}
	if err := api.Bind(c, &body); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	who := p.Email
	if p.Source == web.SourceAPI {
		who = "API key " + p.APIKeyID
	}
	reason := fmt.Sprintf("%s from the %s by %s", pastTense(action), sourceName(p.Source), who)
	if err := h.cmd.Command(c.Request().Context(), p.AccountID, c.Param("id"), action, reason); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func sourceName(source string) string {
	if source == web.SourceAPI {
		return "API"
	}
	return "dashboard"
}

func pastTense(action string) string {
	if action == ActionRestart {
		return "restarted"
	}
	return "stopped"
}

// Stop handles POST /tunnel_sessions/{id}/stop: the agent exits.
func (h *APIHandler) Stop(c echo.Context) error { return h.command(c, ActionStop) }

// Restart handles POST /tunnel_sessions/{id}/restart: the agent re-executes itself and returns
// with a new session id.
func (h *APIHandler) Restart(c echo.Context) error { return h.command(c, ActionRestart) }

// Update handles POST /tunnel_sessions/{id}/update, which Edgeway agents do not support: they are
// updated by their package manager.
func (h *APIHandler) Update(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if _, err := h.store.Session(c.Request().Context(), p.AccountID, c.Param("id")); err != nil {
		return sessionNotFound(err, c.Param("id"))
	}
	return httperr.New(http.StatusNotImplemented, CodeUpdateUnsupported,
		"Edgeway agents do not update themselves remotely: install the new version with your package manager, then restart the session.")
}

// ListTunnels handles GET /tunnels.
func (h *APIHandler) ListTunnels(c echo.Context) error {
	page, err := api.ParsePage(c, ids.Tunnel)
	if err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	fetch := func(before string, n int) ([]TunnelJSON, error) {
		list, err := h.store.Tunnels(c.Request().Context(), p.AccountID, before, n)
		if err != nil {
			return nil, httperr.Internal(err)
		}
		return api.Map(list, h.tunnelJSON), nil
	}
	var out struct {
		Tunnels     []TunnelJSON `json:"tunnels"`
		URI         string       `json:"uri"`
		NextPageURI *string      `json:"next_page_uri"`
	}
	var err2 error
	out.Tunnels, out.URI, out.NextPageURI, err2 = listFiltered(c, h.uris, page, fetch, func(t TunnelJSON) string { return t.ID })
	if err2 != nil {
		return err2
	}
	return c.JSON(http.StatusOK, out)
}

// GetTunnel handles GET /tunnels/{id}.
func (h *APIHandler) GetTunnel(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	t, err := h.store.Tunnel(c.Request().Context(), p.AccountID, c.Param("id"))
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("Tunnel %s was not found in this account; it may have closed.", c.Param("id")))
	}
	if err != nil {
		return httperr.Internal(err)
	}
	return c.JSON(http.StatusOK, h.tunnelJSON(t))
}

func sessionNotFound(err error, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("Agent session %s was not found in this account; it may have ended.", id))
	}
	return httperr.Internal(err)
}

// maxFilterScan bounds how many items one filtered page may examine.
const maxFilterScan = 10_000

// listFiltered returns one page (newest first) of the items fetch yields, applying the request's
// CEL `filter` over each item's API form when there is one.
func listFiltered[T any](c echo.Context, uris api.URIs, page api.Page, fetch func(before string, n int) ([]T, error), id func(T) string) ([]T, string, *string, error) {
	f, err := api.ParseFilter(c)
	if err != nil {
		return nil, "", nil, err
	}
	if f == nil {
		items, err := fetch(page.BeforeID, page.Limit+1)
		if err != nil {
			return nil, "", nil, err
		}
		items, self, next := api.Paginate(c, uris, page, items, id)
		return items, self, next, nil
	}
	items, last, more, err := api.FilterPage(f, page.Limit, maxFilterScan, page.BeforeID, id, fetch)
	if err != nil {
		return nil, "", nil, err
	}
	self, next := uris.List(c, page, last, more)
	if items == nil {
		items = []T{}
	}
	return items, self, next, nil
}
