package apikeys

import (
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

// APIHandler serves /api_keys on the API listener.
type APIHandler struct {
	svc  *Service
	uris api.URIs
}

// NewAPIHandler returns an APIHandler.
func NewAPIHandler(svc *Service, uris api.URIs) *APIHandler { return &APIHandler{svc: svc, uris: uris} }

// KeyJSON is an API key as the API shows it.
type KeyJSON struct {
	ID          string  `json:"id"`
	URI         string  `json:"uri"`
	Description string  `json:"description"`
	Metadata    string  `json:"metadata"`
	CreatedAt   string  `json:"created_at"`
	OwnerID     string  `json:"owner_id"`
	Token       *string `json:"token"`
}

// ListJSON is a page of API keys.
type ListJSON struct {
	Keys        []KeyJSON `json:"keys"`
	URI         string    `json:"uri"`
	NextPageURI *string   `json:"next_page_uri"`
}

type createJSON struct {
	Description string `json:"description"`
	Metadata    string `json:"metadata"`
	OwnerID     string `json:"owner_id"`
}

type updateJSON struct {
	Description *string `json:"description"`
	Metadata    *string `json:"metadata"`
}

func (h *APIHandler) toJSON(k Key) KeyJSON {
	return KeyJSON{ID: k.ID, URI: h.uris.Resource("/api_keys/" + k.ID), Description: k.Description,
		Metadata: k.Metadata, CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339), OwnerID: k.OwnerID}
}

// Create handles POST /api_keys.
func (h *APIHandler) Create(c echo.Context) error {
	var in createJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	created, err := h.svc.Create(c.Request().Context(), p, in.Description, in.Metadata)
	if err != nil {
		return err
	}
	out := h.toJSON(created.Key)
	out.Token = &created.Token
	return c.JSON(http.StatusCreated, out)
}

// List handles GET /api_keys.
func (h *APIHandler) List(c echo.Context) error {
	return api.List(c, ids.APIKey, h.uris, h.svc.List, func(k Key) string { return k.ID },
		func(items []Key, uri string, next *string) ListJSON {
			return ListJSON{URI: uri, NextPageURI: next, Keys: api.Map(items, h.toJSON)}
		})
}

// Get handles GET /api_keys/{id}.
func (h *APIHandler) Get(c echo.Context) error {
	return api.Get(c, h.svc.Get, h.toJSON)
}

// Update handles PATCH /api_keys/{id}.
func (h *APIHandler) Update(c echo.Context) error {
	var in updateJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	k, err := h.svc.Update(c.Request().Context(), p, c.Param("id"), in.Description, in.Metadata)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.toJSON(k))
}

// Delete handles DELETE /api_keys/{id}.
func (h *APIHandler) Delete(c echo.Context) error {
	return api.Delete(c, h.svc.Delete)
}
