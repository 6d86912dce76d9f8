package authz

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/frontend"
	"github.com/labstack/echo/v4"
)

func TestDeniedCodes(t *testing.T) {
	for perm, want := range map[Permission]string{
		TeamInvite:          "ERR_EDGEWAY_1215",
		TeamManage:          "ERR_EDGEWAY_1216",
		BillingRead:         "ERR_EDGEWAY_1217",
		BillingWrite:        "ERR_EDGEWAY_1218",
		AgentsWrite:         "ERR_EDGEWAY_1219",
		CredentialsWrite:    "ERR_EDGEWAY_1219",
		APIKeysWrite:        "ERR_EDGEWAY_1219",
		IPPoliciesWrite:     "ERR_EDGEWAY_1219",
		IPRestrictionsWrite: httperr.CodeForbidden,
		AccountWrite:        httperr.CodeForbidden,
		TeamRead:            httperr.CodeForbidden,
	} {
		if e := Denied(perm); e.Code != want || e.Status != http.StatusForbidden || e.Details["permission"] != string(perm) {
			t.Errorf("Denied(%s) = %d %s %v, want 403 %s", perm, e.Status, e.Code, e.Details, want)
		}
	}
}

func TestEveryPermissionIsHeldByAdmin(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range All {
		if !e.Allowed([]string{"admin"}, p) {
			t.Errorf("admin lacks %s", p)
		}
		if e.Allowed(nil, p) || e.Allowed([]string{"root"}, p) {
			t.Errorf("no role holds %s", p)
		}
	}
	if e.Allowed([]string{"developer_read_only"}, AgentsWrite) || !e.Allowed([]string{"developer_read_only", "billing_access"}, BillingRead) {
		t.Error("roles do not combine as expected")
	}
}

func TestMiddleware(t *testing.T) {
	enf, err := New()
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]Rule{"GET /open": Public, "GET /mine": SignedIn, "POST /agents": Need(AgentsWrite)}
	ok := func(c echo.Context) error {
		if !frontend.Can(c.Request().Context(), "agents:read") {
			return c.String(200, "no permissions in context")
		}
		return c.String(200, "ok")
	}
	tests := []struct {
		name, method, path string
		roles              []string // nil: nobody signed in
		status             int
		code               string
	}{
		{"public without principal", "GET", "/open", nil, 200, ""},
		{"signed-in route without principal", "GET", "/mine", nil, 401, httperr.CodeUnauthorized},
		{"signed-in route", "GET", "/mine", []string{"developer_read_only"}, 200, ""},
		{"permission held", "POST", "/agents", []string{"developer_read_write"}, 200, ""},
		{"permission missing", "POST", "/agents", []string{"developer_read_only"}, 403, "ERR_EDGEWAY_1219"},
		{"unmapped route is closed", "GET", "/unmapped", []string{"admin"}, 403, httperr.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			var got error
			e.HTTPErrorHandler = func(err error, c echo.Context) { got = err; _ = c.NoContent(599) }
			mw := []echo.MiddlewareFunc{func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
					if tt.roles != nil {
						web.SetPrincipal(c, web.Principal{UserID: "usr_x", Roles: tt.roles})
					}
					return next(c)
				}
			}, enf.Middleware(rules)}
			e.Add(tt.method, tt.path, ok, mw...)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if tt.code == "" {
				if rec.Code != tt.status || got != nil {
					t.Fatalf("status %d err %v, want %d", rec.Code, got, tt.status)
				}
				if tt.roles != nil && rec.Body.String() != "ok" {
					t.Fatalf("body %q: permissions not recorded for templates", rec.Body.String())
				}
				return
			}
			he, isHE := httperr.As(got)
			if !isHE || he.Status != tt.status || he.Code != tt.code {
				t.Fatalf("error %v, want %d %s", got, tt.status, tt.code)
			}
		})
	}
}
