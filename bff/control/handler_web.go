package control

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/live"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the dashboard's Agents page, its live stream and its commands.
type WebHandler struct {
	store     *Store
	feed      *Feed
	hub       *live.Hub
	cmd       Commander
	upgrader  *websocket.Upgrader
	canManage func(web.Principal) bool
}

// NewWebHandler returns a WebHandler. canManage says who may restart and disconnect agents (the
// buttons are shown only to them, and the commands refused for everyone else).
func NewWebHandler(store *Store, feed *Feed, hub *live.Hub, cmd Commander, publicURL string, canManage func(web.Principal) bool) *WebHandler {
	return &WebHandler{store: store, feed: feed, hub: hub, cmd: cmd, upgrader: live.Upgrader(publicURL), canManage: canManage}
}

func (h *WebHandler) key(c echo.Context) (ViewKey, error) {
	p, _ := web.PrincipalFrom(c)
	f := SessionFilter{Region: strings.TrimSpace(c.QueryParam("region")), Query: strings.TrimSpace(c.QueryParam("q"))}
	if f.Region != "" && !region.Code(f.Region).Valid() {
		return ViewKey{}, httperr.Validation("Unknown region "+f.Region+".", map[string]string{"region": "Pick a region from the list."})
	}
	if len(f.Query) > 200 {
		f.Query = f.Query[:200]
	}
	return ViewKey{AccountID: p.AccountID, Filter: f, CanManage: h.canManage(p)}, nil
}

// Page handles GET /agents.
func (h *WebHandler) Page(c echo.Context) error {
	k, err := h.key(c)
	if err != nil {
		return err
	}
	v, err := h.feed.View(c.Request().Context(), k)
	if err != nil {
		return httperr.Internal(err)
	}
	return web.Render(c, http.StatusOK, frontend.AgentsPage(web.NewPage(c, "Agents", "agents"), v))
}

// Live handles GET /agents/live: the websocket that keeps the page current. The first message
// resyncs the page (after a reconnect too); later ones follow every change of the account's
// sessions, on any bff.
func (h *WebHandler) Live(c echo.Context) error {
	k, err := h.key(c)
	if err != nil {
		return err
	}
	first, err := h.feed.Render(c.Request().Context(), k)
	if err != nil {
		return httperr.Internal(err)
	}
	conn, err := h.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered (e.g. 403 for a foreign Origin)
	}
	client := h.hub.Subscribe(k.Topic())
	h.hub.Serve(conn, client, first)
	return nil
}

// Detail handles GET /agents/{id}.
func (h *WebHandler) Detail(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	s, err := h.store.Session(c.Request().Context(), p.AccountID, c.Param("id"))
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, "This agent session is not online any more.")
	}
	if err != nil {
		return httperr.Internal(err)
	}
	tunnels, err := h.store.TunnelsOfSessions(c.Request().Context(), []string{s.ID})
	if err != nil {
		return httperr.Internal(err)
	}
	return web.Render(c, http.StatusOK, frontend.SessionDetail(web.NewPage(c, "Agent session", "agents"), Row(s, tunnels[s.ID]), h.canManage(p)))
}

func (h *WebHandler) command(c echo.Context, action string) error {
	p, _ := web.PrincipalFrom(c)
	if !h.canManage(p) {
		return httperr.New(http.StatusForbidden, "ERR_EDGEWAY_1219", "Your role does not allow restarting or disconnecting agents. Ask an administrator.")
	}
	reason := pastTense(action) + " from the dashboard by " + p.Email
	if err := h.cmd.Command(c.Request().Context(), p.AccountID, c.Param("id"), action, reason); err != nil {
		if e, ok := httperr.As(err); ok && e.Status != http.StatusInternalServerError {
			c.Response().Header().Set("HX-Reswap", "innerHTML")
			return web.Render(c, e.Status, frontend.CommandStatus(e.Msg, true))
		}
		return err
	}
	msg := "Disconnected: the agent has exited."
	if action == ActionRestart {
		msg = "Restarting: the agent comes back with a new session id."
	}
	return web.Render(c, http.StatusOK, frontend.CommandStatus(msg, false))
}

// Stop handles POST /agents/{id}/stop.
func (h *WebHandler) Stop(c echo.Context) error { return h.command(c, ActionStop) }

// Restart handles POST /agents/{id}/restart.
func (h *WebHandler) Restart(c echo.Context) error { return h.command(c, ActionRestart) }

// MaxBulk caps the sessions one bulk command may name.
const MaxBulk = 100

// Bulk handles POST /agents/bulk: restart or disconnect every selected session, concurrently,
// and report each outcome.
func (h *WebHandler) Bulk(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if !h.canManage(p) {
		return httperr.New(http.StatusForbidden, "ERR_EDGEWAY_1219", "Your role does not allow restarting or disconnecting agents. Ask an administrator.")
	}
	action := c.FormValue("action")
	if action != ActionStop && action != ActionRestart {
		return httperr.Validation("Choose Restart selected or Disconnect selected.", map[string]string{"action": "must be stop or restart"})
	}
	form, err := c.FormParams()
	if err != nil {
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeValidation, "The form could not be read.")
	}
	selected := form["session"]
	if len(selected) == 0 {
		return httperr.Validation("Select at least one session first.", map[string]string{"session": "none selected"})
	}
	if len(selected) > MaxBulk {
		return httperr.Validation(fmt.Sprintf("Select at most %d sessions at once (%d selected).", MaxBulk, len(selected)), map[string]string{"session": "too many"})
	}
	reason := pastTense(action) + " from the dashboard by " + p.Email
	results := make([]frontend.BulkResult, len(selected))
	var wg sync.WaitGroup
	for i, id := range selected {
		wg.Go(func() {
			results[i].SessionID = id
			if err := h.cmd.Command(c.Request().Context(), p.AccountID, id, action, reason); err != nil {
				msg := "failed"
				if e, ok := httperr.As(err); ok {
					msg = e.Msg
				}
				results[i].Err = msg
			}
		})
	}
	wg.Wait()
	label := "Disconnected"
	if action == ActionRestart {
		label = "Restarted"
	}
	return web.Render(c, http.StatusOK, frontend.BulkStatus(label, results))
}
