package credentials

import (
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

// APIHandler serves /credentials on the API listener.
type APIHandler struct {
	svc  *Service
	uris api.URIs
}

// NewAPIHandler returns an APIHandler.
func NewAPIHandler(svc *Service, uris api.URIs) *APIHandler { return &APIHandler{svc: svc, uris: uris} }

// JSON is a credential as the API shows it.
type JSON struct {
	ID          string   `json:"id"`
	URI         string   `json:"uri"`
	CreatedAt   string   `json:"created_at"`
	Description string   `json:"description"`
	Metadata    string   `json:"metadata"`
	Token       *string  `json:"token"`
	ACL         []string `json:"acl"`
	OwnerID     *string  `json:"owner_id"`
}

// ListJSON is a page of credentials.
type ListJSON struct {
	Credentials []JSON  `json:"credentials"`
	URI         string  `json:"uri"`
	NextPageURI *string `json:"next_page_uri"`
}

type inputJSON struct {
	Description *string  `json:"description"`
	Metadata    *string  `json:"metadata"`
	ACL         []string `json:"acl"`
	OwnerID     *string  `json:"owner_id"`
}

func (in inputJSON) input() Input {
	return Input{Description: in.Description, Metadata: in.Metadata, ACL: in.ACL}
}

func (h *APIHandler) toJSON(c Credential) JSON {
	return JSON{ID: c.ID, URI: h.uris.Resource("/credentials/" + c.ID), CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
		Description: c.Description, Metadata: c.Metadata, ACL: c.ACL, OwnerID: c.OwnerID}
}

// Create handles POST /credentials.
func (h *APIHandler) Create(c echo.Context) error {
	var in inputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	created, err := h.svc.Create(c.Request().Context(), p, in.input())
	if err != nil {
		return err
	}
	out := h.toJSON(created.Credential)
	out.Token = &created.Token
	return c.JSON(http.StatusCreated, out)
}

// List handles GET /credentials.
func (h *APIHandler) List(c echo.Context) error {
	return api.List(c, ids.Credential, h.uris, h.svc.List, func(cr Credential) string { return cr.ID },
		func(items []Credential, uri string, next *string) ListJSON {
			return ListJSON{URI: uri, NextPageURI: next, Credentials: api.Map(items, h.toJSON)}
		})
}

// Get handles GET /credentials/{id}.
func (h *APIHandler) Get(c echo.Context) error {
	return api.Get(c, h.svc.Get, h.toJSON)
}

// Update handles PATCH /credentials/{id}.
func (h *APIHandler) Update(c echo.Context) error {
	var in inputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	cr, err := h.svc.Update(c.Request().Context(), p, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.toJSON(cr))
}

// Delete handles DELETE /credentials/{id}.
func (h *APIHandler) Delete(c echo.Context) error {
	return api.Delete(c, h.svc.Delete)
}
