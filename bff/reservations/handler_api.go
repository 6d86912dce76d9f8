package reservations

import (
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

// APIHandler serves /reserved_domains and /reserved_addrs on the API listener.
type APIHandler struct {
	svc  *Service
	uris api.URIs
}

// NewAPIHandler returns an APIHandler.
func NewAPIHandler(svc *Service, uris api.URIs) *APIHandler { return &APIHandler{svc: svc, uris: uris} }

// DomainJSON is a reserved domain as the API shows it. CNAMETarget is null when no CNAME record
// is needed (a subdomain of the region's base domain) or the region has no edge.
type DomainJSON struct {
	ID          string  `json:"id"`
	URI         string  `json:"uri"`
	CreatedAt   string  `json:"created_at"`
	Description string  `json:"description"`
	Metadata    string  `json:"metadata"`
	Domain      string  `json:"domain"`
	Region      string  `json:"region"`
	CNAMETarget *string `json:"cname_target"`
}

// DomainListJSON is a page of reserved domains.
type DomainListJSON struct {
	ReservedDomains []DomainJSON `json:"reserved_domains"`
	URI             string       `json:"uri"`
	NextPageURI     *string      `json:"next_page_uri"`
}

// AddrJSON is a reserved TCP address as the API shows it.
type AddrJSON struct {
	ID          string `json:"id"`
	URI         string `json:"uri"`
	CreatedAt   string `json:"created_at"`
	Description string `json:"description"`
	Metadata    string `json:"metadata"`
	Addr        string `json:"addr"`
	Region      string `json:"region"`
}

// AddrListJSON is a page of reserved addresses.
type AddrListJSON struct {
	ReservedAddrs []AddrJSON `json:"reserved_addrs"`
	URI           string     `json:"uri"`
	NextPageURI   *string    `json:"next_page_uri"`
}

type domainInputJSON struct {
	Domain      *string `json:"domain"`
	Region      *string `json:"region"`
	Description *string `json:"description"`
	Metadata    *string `json:"metadata"`
}

func (in domainInputJSON) input() DomainInput {
	return DomainInput{Domain: in.Domain, Region: in.Region, Description: in.Description, Metadata: in.Metadata}
}

type addrInputJSON struct {
	Addr        *string `json:"addr"`
	Region      *string `json:"region"`
	Description *string `json:"description"`
	Metadata    *string `json:"metadata"`
}

func (in addrInputJSON) input() AddrInput {
	return AddrInput{Addr: in.Addr, Region: in.Region, Description: in.Description, Metadata: in.Metadata}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (h *APIHandler) domainJSON(d Domain) DomainJSON {
	out := DomainJSON{ID: d.ID, URI: h.uris.Resource("/reserved_domains/" + d.ID), CreatedAt: stamp(d.CreatedAt),
		Description: d.Description, Metadata: d.Metadata, Domain: d.Domain, Region: d.Region}
	if t := h.svc.CNAMETarget(d); t != "" {
		out.CNAMETarget = &t
	}
	return out
}

func (h *APIHandler) addrJSON(a Addr) AddrJSON {
	return AddrJSON{ID: a.ID, URI: h.uris.Resource("/reserved_addrs/" + a.ID), CreatedAt: stamp(a.CreatedAt),
		Description: a.Description, Metadata: a.Metadata, Addr: a.Addr, Region: a.Region}
}

// CreateDomain handles POST /reserved_domains.
func (h *APIHandler) CreateDomain(c echo.Context) error {
	var in domainInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	d, err := h.svc.CreateDomain(c.Request().Context(), p, in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.domainJSON(d))
}

// ListDomains handles GET /reserved_domains.
func (h *APIHandler) ListDomains(c echo.Context) error {
	return api.List(c, ids.ReservedDom, h.uris, h.svc.ListDomains, func(d Domain) string { return d.ID },
		func(items []Domain, uri string, next *string) DomainListJSON {
			return DomainListJSON{URI: uri, NextPageURI: next, ReservedDomains: api.Map(items, h.domainJSON)}
		})
}

// GetDomain handles GET /reserved_domains/{id}.
func (h *APIHandler) GetDomain(c echo.Context) error {
	return api.Get(c, h.svc.GetDomain, h.domainJSON)
}

// UpdateDomain handles PATCH /reserved_domains/{id}.
func (h *APIHandler) UpdateDomain(c echo.Context) error {
	var in domainInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	d, err := h.svc.UpdateDomain(c.Request().Context(), p, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.domainJSON(d))
}

// DeleteDomain handles DELETE /reserved_domains/{id}.
func (h *APIHandler) DeleteDomain(c echo.Context) error {
	return api.Delete(c, h.svc.DeleteDomain)
}

// CreateAddr handles POST /reserved_addrs.
func (h *APIHandler) CreateAddr(c echo.Context) error {
	var in addrInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	a, err := h.svc.CreateAddr(c.Request().Context(), p, in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.addrJSON(a))
}

// ListAddrs handles GET /reserved_addrs.
func (h *APIHandler) ListAddrs(c echo.Context) error {
	return api.List(c, ids.ReservedAddr, h.uris, h.svc.ListAddrs, func(a Addr) string { return a.ID },
		func(items []Addr, uri string, next *string) AddrListJSON {
			return AddrListJSON{URI: uri, NextPageURI: next, ReservedAddrs: api.Map(items, h.addrJSON)}
		})
}

// GetAddr handles GET /reserved_addrs/{id}.
func (h *APIHandler) GetAddr(c echo.Context) error {
	return api.Get(c, h.svc.GetAddr, h.addrJSON)
}

// UpdateAddr handles PATCH /reserved_addrs/{id}.
func (h *APIHandler) UpdateAddr(c echo.Context) error {
	var in addrInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	a, err := h.svc.UpdateAddr(c.Request().Context(), p, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.addrJSON(a))
}

// DeleteAddr handles DELETE /reserved_addrs/{id}.
func (h *APIHandler) DeleteAddr(c echo.Context) error {
	return api.Delete(c, h.svc.DeleteAddr)
}
