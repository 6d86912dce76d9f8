package reservations

import (
	"net/http"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/labstack/echo/v4"
)

// WebHandler serves the dashboard's Endpoints page: reserved domains and TCP addresses.
type WebHandler struct{ svc *Service }

// NewWebHandler returns a WebHandler.
func NewWebHandler(svc *Service) *WebHandler { return &WebHandler{svc: svc} }

func (h *WebHandler) domainRow(d Domain) frontend.ReservedDomainRow {
	return frontend.ReservedDomainRow{ID: d.ID, Domain: d.Domain, Region: d.Region, RegionName: region.Code(d.Region).Name(),
		CNAMETarget: h.svc.CNAMETarget(d), Description: d.Description, CreatedAt: d.CreatedAt}
}

func addrRow(a Addr) frontend.ReservedAddrRow {
	return frontend.ReservedAddrRow{ID: a.ID, Addr: a.Addr, Region: a.Region, RegionName: region.Code(a.Region).Name(),
		Description: a.Description, CreatedAt: a.CreatedAt}
}

// domainRegions offers every region: a domain can be reserved anywhere.
func domainRegions() []frontend.RegionOption {
	var out []frontend.RegionOption
	for _, r := range region.All() {
		out = append(out, frontend.RegionOption{Code: string(r.Code), Name: r.Name})
	}
	return out
}

// addrRegions offers every region, those whose edge serves no TCP addresses disabled.
func (h *WebHandler) addrRegions() []frontend.RegionOption {
	var out []frontend.RegionOption
	for _, r := range region.All() {
		e, ok := h.svc.Regions().Edge(r.Code)
		opt := frontend.RegionOption{Code: string(r.Code), Name: r.Name}
		if !ok || !e.ServesTCP() {
			opt.Disabled, opt.Name = true, r.Name+", no TCP addresses here"
		}
		out = append(out, opt)
	}
	return out
}

// defaultAddrRegion is the default region if it serves TCP, else the first that does.
func (h *WebHandler) defaultAddrRegion() string {
	tcp := h.svc.Regions().WithTCP()
	for _, c := range tcp {
		if c == DefaultRegion {
			return string(c)
		}
	}
	if len(tcp) > 0 {
		return string(tcp[0])
	}
	return string(DefaultRegion)
}

// view builds the page with both forms in the given states.
func (h *WebHandler) view(c echo.Context, domainForm, addrForm frontend.ReservationForm) (frontend.EndpointsView, error) {
	p, _ := web.PrincipalFrom(c)
	ctx := c.Request().Context()
	ds, err := h.svc.ListDomains(ctx, p, "", 100)
	if err != nil {
		return frontend.EndpointsView{}, err
	}
	as, err := h.svc.ListAddrs(ctx, p, "", 100)
	if err != nil {
		return frontend.EndpointsView{}, err
	}
	v := frontend.EndpointsView{DomainRegions: domainRegions(), AddrRegions: h.addrRegions(),
		DomainForm: domainForm, AddrForm: addrForm}
	for _, d := range ds {
		v.Domains = append(v.Domains, h.domainRow(d))
	}
	for _, a := range as {
		v.Addrs = append(v.Addrs, addrRow(a))
	}
	return v, nil
}

func (h *WebHandler) render(c echo.Context, status int, domainForm, addrForm frontend.ReservationForm) error {
	v, err := h.view(c, domainForm, addrForm)
	if err != nil {
		return err
	}
	return web.Render(c, status, frontend.EndpointsPage(web.NewPage(c, "Endpoints", "endpoints"), v))
}

func (h *WebHandler) emptyDomainForm() frontend.ReservationForm {
	return frontend.ReservationForm{Region: string(DefaultRegion)}
}

func (h *WebHandler) emptyAddrForm() frontend.ReservationForm {
	return frontend.ReservationForm{Region: h.defaultAddrRegion()}
}

// Page handles GET /endpoints.
func (h *WebHandler) Page(c echo.Context) error {
	return h.render(c, http.StatusOK, h.emptyDomainForm(), h.emptyAddrForm())
}

// formProblems puts a client error into the form: per-field problems next to their fields, any
// other (a plan limit) above the form. It returns the status to answer with, and false for
// errors the form cannot show (server errors), which the error handler renders.
func formProblems(err error, f *frontend.ReservationForm) (int, bool) {
	e, ok := httperr.As(err)
	if !ok || e.Status >= 500 {
		return 0, false
	}
	if len(e.Fields) > 0 {
		f.Errors = e.Fields
		return http.StatusUnprocessableEntity, true
	}
	f.Error = e.Msg
	return e.Status, true
}

// CreateDomain handles POST /endpoints/domains.
func (h *WebHandler) CreateDomain(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	f := frontend.ReservationForm{Domain: c.FormValue("domain"), Region: c.FormValue("region"), Description: c.FormValue("description")}
	d, err := h.svc.CreateDomain(c.Request().Context(), p, DomainInput{Domain: &f.Domain, Region: &f.Region, Description: &f.Description})
	if err != nil {
		status, ok := formProblems(err, &f)
		if !ok {
			return err
		}
		if !web.IsHTMX(c) {
			return h.render(c, status, f, h.emptyAddrForm())
		}
		return web.Render(c, status, frontend.ReservedDomainForm(domainRegions(), f))
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/endpoints")
	}
	return web.Render(c, http.StatusCreated, frontend.ReservedDomainCreated(domainRegions(), h.domainRow(d)))
}

// DeleteDomain handles DELETE /endpoints/domains/{id}.
func (h *WebHandler) DeleteDomain(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.DeleteDomain(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/endpoints")
	}
	return c.String(http.StatusOK, "")
}

// CreateAddr handles POST /endpoints/addrs: the server allocates the address.
func (h *WebHandler) CreateAddr(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	f := frontend.ReservationForm{Region: c.FormValue("region"), Description: c.FormValue("description")}
	a, err := h.svc.CreateAddr(c.Request().Context(), p, AddrInput{Region: &f.Region, Description: &f.Description})
	if err != nil {
		status, ok := formProblems(err, &f)
		if !ok {
			return err
		}
		if !web.IsHTMX(c) {
			return h.render(c, status, h.emptyDomainForm(), f)
		}
		return web.Render(c, status, frontend.ReservedAddrForm(h.addrRegions(), f))
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/endpoints")
	}
	return web.Render(c, http.StatusCreated, frontend.ReservedAddrCreated(h.addrRegions(), addrRow(a)))
}

// DeleteAddr handles DELETE /endpoints/addrs/{id}.
func (h *WebHandler) DeleteAddr(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.DeleteAddr(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	if !web.IsHTMX(c) {
		return c.Redirect(http.StatusSeeOther, "/endpoints")
	}
	return c.String(http.StatusOK, "")
}
