// Package api holds the JSON API's shared machinery: version header, bearer API-key
// authentication, strict JSON binding (empty bodies allowed), the reference's pagination
// (limit, before_id, next_page_uri) and absolute resource URIs.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

// Version is the API version this server speaks.
const Version = "2"

// VersionHeaders are the accepted version headers, ours first.
var VersionHeaders = []string{"Edgeway-Version", "Ngrok-Version"}

// RequireVersion is middleware refusing requests without a supported version header.
func RequireVersion(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, h := range VersionHeaders {
			v := c.Request().Header.Get(h)
			if v == "" {
				continue
			}
			if strings.TrimSpace(v) != Version {
				e := httperr.New(http.StatusBadRequest, httperr.CodeVersionUnsupported,
					fmt.Sprintf("API version %q is not supported. Send the header %s: %s.", v, VersionHeaders[0], Version))
				e.Details = map[string]any{"supported_versions": []string{Version}}
				return e
			}
			return next(c)
		}
		return httperr.New(http.StatusBadRequest, httperr.CodeVersionMissing,
			fmt.Sprintf("The API version header is missing. Send %s: %s (Ngrok-Version: 2 is accepted too).", VersionHeaders[0], Version))
	}
}

// KeyResolver turns a bearer token into the principal it acts as; ok is false for unknown keys.
type KeyResolver func(ctx context.Context, token string) (p web.Principal, ok bool, err error)

// Authenticate is middleware requiring `Authorization: Bearer <API key>`.
func Authenticate(resolve KeyResolver) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, token, found := strings.Cut(h, " ")
			if h == "" {
				return unauthorized("The Authorization header is missing. Send Authorization: Bearer <API key>; create keys on the dashboard's API keys page.")
			}
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return unauthorized("The Authorization header must be of the form: Bearer <API key>.")
			}
			p, ok, err := resolve(c.Request().Context(), strings.TrimSpace(token))
			if err != nil {
				return httperr.Internal(err)
			}
			if !ok {
				return unauthorized("The API key is not valid: it may have been deleted. Create a new one on the dashboard's API keys page.")
			}
			web.SetPrincipal(c, p)
			return next(c)
		}
	}
}

func unauthorized(msg string) error {
	return httperr.New(http.StatusUnauthorized, httperr.CodeUnauthorized, msg)
}

// Bind decodes a JSON request body into v strictly: unknown fields and trailing data are errors.
// An empty body (with or without a Content-Type) leaves v unchanged, as the reference allows.
func Bind(c echo.Context, v any) error {
	req := c.Request()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return httperr.New(http.StatusRequestEntityTooLarge, httperr.CodeBodyTooLarge,
				fmt.Sprintf("The request body is larger than the %d bytes allowed.", mbe.Limit))
		}
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidJSON, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return httperr.New(http.StatusUnsupportedMediaType, httperr.CodeUnsupportedMedia,
				fmt.Sprintf("Content-Type %q is not supported: send JSON with Content-Type: application/json.", ct))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return httperr.New(http.StatusBadRequest, httperr.CodeInvalidJSON, "The request body has data after the JSON value. Send exactly one JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	msg := "The request body is not valid JSON."
	details := map[string]any{}
	switch {
	case errors.As(err, &syn):
		msg = fmt.Sprintf("The request body is not valid JSON: %s (at byte %d).", syn.Error(), syn.Offset)
		details["offset"] = syn.Offset
	case errors.As(err, &typ):
		msg = fmt.Sprintf("Field %q must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		details["field"] = typ.Field
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "The request body ends in the middle of a JSON value."
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		msg = fmt.Sprintf("Unknown field %q. Check the field names in the API reference (/openapi.json).", field)
		details["field"] = field
	}
	e := httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidJSON, msg)
	e.Details = details
	return e
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	default:
		return "a number"
	}
}

// Pagination limits, as in the reference.
const (
	DefaultLimit = 100
	MaxLimit     = 100
)

// Page is a parsed page request: up to Limit items with IDs below BeforeID (newest first).
type Page struct {
	Limit    int
	BeforeID string
}

// ParsePage reads limit and before_id, validating before_id against the resource's ID prefix.
func ParsePage(c echo.Context, prefix string) (Page, error) {
	p := Page{Limit: DefaultLimit}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			e := httperr.New(http.StatusBadRequest, httperr.CodeInvalidPagination,
				fmt.Sprintf("limit must be a whole number from 1 to %d; got %q.", MaxLimit, s))
			e.Details = map[string]any{"param": "limit"}
			return p, e
		}
		p.Limit = n
	}
	if s := c.QueryParam("before_id"); s != "" {
		if _, err := ids.Parse(prefix, s); err != nil {
			e := httperr.New(http.StatusBadRequest, httperr.CodeInvalidPagination,
				"before_id: "+err.Error()+". Use the id of the last item of the previous page, or follow next_page_uri.")
			e.Details = map[string]any{"param": "before_id"}
			return p, e
		}
		p.BeforeID = s
	}
	return p, nil
}

// URIs builds absolute URIs on the API's public base URL.
type URIs struct{ Base string }

// Resource returns the URI of a resource path such as "/api_keys/ak_...".
func (u URIs) Resource(path string) string { return strings.TrimRight(u.Base, "/") + path }

// List returns the list's own uri and its next_page_uri (nil when this is the last page).
// Callers fetch Limit+1 rows to learn whether more exist.
func (u URIs) List(c echo.Context, p Page, lastID string, more bool) (string, *string) {
	self := u.Resource(c.Request().URL.Path)
	if q := c.Request().URL.RawQuery; q != "" {
		self += "?" + q
	}
	if !more {
		return self, nil
	}
	q := url.Values{}
	for k, vs := range c.QueryParams() {
		q[k] = vs
	}
	q.Set("before_id", lastID)
	q.Set("limit", strconv.Itoa(p.Limit))
	next := u.Resource(c.Request().URL.Path) + "?" + q.Encode()
	return self, &next
}

// Ref is a reference to another resource.
type Ref struct {
	ID  string `json:"id"`
	URI string `json:"uri"`
}

// Paginate trims a fetch of Limit+1 items (newest first) to one page and returns the list's uri
// and next_page_uri.
func Paginate[T any](c echo.Context, u URIs, p Page, items []T, id func(T) string) ([]T, string, *string) {
	more := len(items) > p.Limit
	if more {
		items = items[:p.Limit]
	}
	last := ""
	if len(items) > 0 {
		last = id(items[len(items)-1])
	}
	self, next := u.List(c, p, last, more)
	return items, self, next
}

// Map converts each item with f (for building the JSON of a page).
func Map[T, U any](items []T, f func(T) U) []U {
	out := make([]U, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}

// List answers GET /<resources>: one page of the principal's items, newest first. fetch gets
// the page's before_id and Limit+1 (to learn whether more exist); page builds the list's JSON
// from the page's items, its uri and next_page_uri.
func List[T, J any](c echo.Context, prefix string, u URIs,
	fetch func(ctx context.Context, p web.Principal, beforeID string, limit int) ([]T, error),
	id func(T) string, page func(items []T, uri string, next *string) J) error {
	pg, err := ParsePage(c, prefix)
	if err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	items, err := fetch(c.Request().Context(), p, pg.BeforeID, pg.Limit+1)
	if err != nil {
		return err
	}
	items, self, next := Paginate(c, u, pg, items, id)
	return c.JSON(http.StatusOK, page(items, self, next))
}

// Get answers GET /<resources>/{id}: load the principal's item named by the path, show it
// through view.
func Get[T, J any](c echo.Context, load func(context.Context, web.Principal, string) (T, error), view func(T) J) error {
	p, _ := web.PrincipalFrom(c)
	item, err := load(c.Request().Context(), p, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view(item))
}

// Delete answers DELETE /<resources>/{id} with 204 once del has removed the principal's item.
func Delete(c echo.Context, del func(context.Context, web.Principal, string) error) error {
	p, _ := web.PrincipalFrom(c)
	if err := del(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
