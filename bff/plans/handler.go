package plans

import (
	"net/http"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

// Handler serves the Billing page and GET /account.
type Handler struct {
	svc  *Service
	uris api.URIs
}

// NewHandler returns a Handler.
func NewHandler(svc *Service, uris api.URIs) *Handler { return &Handler{svc: svc, uris: uris} }

// AccountJSON is GET /account: the plan, every limit and the current usage, so clients learn
// limits before they hit them.
type AccountJSON struct {
	ID       string          `json:"id"`
	URI      string          `json:"uri"`
	Name     string          `json:"name"`
	Plan     string          `json:"plan"`
	Paid     bool            `json:"paid"`
	Limits   map[Limit]int   `json:"limits"`
	Usage    map[Limit]int   `json:"usage"`
	Features map[string]bool `json:"features"`
}

// GetAccount handles GET /account.
func (h *Handler) GetAccount(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	a, err := h.svc.Account(c.Request().Context(), p.AccountID)
	if err != nil {
		return httperr.Internal(err)
	}
	return c.JSON(http.StatusOK, AccountJSON{ID: a.ID, URI: h.uris.Resource("/account"), Name: a.Name, Plan: a.Plan.Name,
		Paid: a.Plan.Paid, Limits: a.Plan.Limits, Usage: a.Usage,
		Features: map[string]bool{"team_members": a.Plan.Paid, "rbac": a.Plan.Paid}})
}

// View builds the rows of a limits table.
func View(a Account) []frontend.LimitRow {
	rows := make([]frontend.LimitRow, 0, len(Limits))
	for _, l := range Limits {
		rows = append(rows, frontend.LimitRow{Key: string(l), Label: LimitLabels[l], Used: a.Usage[l], Max: a.Plan.Limits[l]})
	}
	return rows
}

func (h *Handler) page(c echo.Context, status int, errMsg string) error {
	p, _ := web.PrincipalFrom(c)
	a, err := h.svc.Account(c.Request().Context(), p.AccountID)
	if err != nil {
		return httperr.Internal(err)
	}
	v := frontend.BillingView{AccountID: a.ID, PlanLabel: a.Plan.Label, Paid: a.Plan.Paid, Limits: View(a), Error: errMsg}
	for _, pl := range Plans {
		v.Plans = append(v.Plans, frontend.PlanOption{Name: pl.Name, Label: pl.Label, Price: pl.Price, Current: pl.Name == a.Plan.Name})
	}
	page := web.NewPage(c, "Billing", "billing")
	if page.Viewer != nil {
		page.Viewer.Plan = a.Plan.Name
	}
	return web.Render(c, status, frontend.BillingPage(page, v))
}

// Page handles GET /billing.
func (h *Handler) Page(c echo.Context) error { return h.page(c, http.StatusOK, "") }

// ChangePlan handles POST /billing/plan.
func (h *Handler) ChangePlan(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.SetPlan(c.Request().Context(), p, p.AccountID, c.FormValue("plan")); err != nil {
		if e, ok := httperr.As(err); ok && e.Status < 500 {
			msg := e.Msg
			for _, f := range e.Fields {
				msg = f
			}
			return h.page(c, http.StatusUnprocessableEntity, msg)
		}
		return err
	}
	return web.Redirect(c, "/billing")
}
