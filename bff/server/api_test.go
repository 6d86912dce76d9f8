package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/google/go-cmp/cmp"
)

// apiClient calls the API listener with a key.
type apiClient struct {
	t    *testing.T
	base string
	key  string
}

func (a apiClient) do(method, path, body string, headers map[string]string) (int, http.Header, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	req.Header.Set("Edgeway-Version", "2")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			a.t.Fatalf("%s %s: response is not JSON: %s", method, path, data)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// newKey signs up through the dashboard and creates an API key there, as a person would.
func (st *stack) newKey(t *testing.T, email string) apiClient {
	t.Helper()
	b := st.browser(t)
	b.signup(email)
	tok := b.csrf("/api-keys")
	resp, body := b.do("POST", "/api-keys", url.Values{"description": {"test"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	m := regexp.MustCompile(`data-testid="api-key-token">([^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("create key in dashboard: %d\n%s", resp.StatusCode, body)
	}
	return apiClient{t: t, base: st.api.URL, key: m[1]}
}

func TestAPIAuthAndVersion(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	tests := []struct {
		name     string
		headers  map[string]string
		status   int
		wantCode string
	}{
		{"ok with Edgeway-Version", nil, 200, ""},
		{"ok with Ngrok-Version", map[string]string{"Edgeway-Version": "", "Ngrok-Version": "2"}, 200, ""},
		{"missing version", map[string]string{"Edgeway-Version": ""}, 400, "ERR_EDGEWAY_VERSION_MISSING"},
		{"unknown version", map[string]string{"Edgeway-Version": "3"}, 400, "ERR_EDGEWAY_VERSION_UNSUPPORTED"},
		{"missing key", map[string]string{"Authorization": ""}, 401, "ERR_EDGEWAY_UNAUTHORIZED"},
		{"wrong scheme", map[string]string{"Authorization": "Basic abc"}, 401, "ERR_EDGEWAY_UNAUTHORIZED"},
		{"unknown key", map[string]string{"Authorization": "Bearer ewk_nope"}, 401, "ERR_EDGEWAY_UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := c.do("GET", "/api_keys", "", tt.headers)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if tt.wantCode == "" {
				return
			}
			if body["error_code"] != tt.wantCode || body["status_code"] != float64(tt.status) || body["msg"] == "" {
				t.Fatalf("error body %v, want code %s", body, tt.wantCode)
			}
			details, _ := body["details"].(map[string]any)
			if op, _ := details["operation_id"].(string); !strings.HasPrefix(op, "op_") {
				t.Fatalf("details.operation_id = %v", details["operation_id"])
			}
		})
	}
}

func TestAPIKeysCRUDAndPagination(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	other := st.newKey(t, "eve@example.com")

	// Empty-body POST with no Content-Type is accepted.
	status, _, created := c.do("POST", "/api_keys", "", map[string]string{"Content-Type": ""})
	if status != 201 || !strings.HasPrefix(created["token"].(string), "ewk_") {
		t.Fatalf("empty POST = %d %v", status, created)
	}
	for _, d := range []string{"two", "three"} {
		if status, _, body := c.do("POST", "/api_keys", `{"description":"`+d+`"}`, nil); status != 201 || body["description"] != d {
			t.Fatalf("create %s = %d %v", d, status, body)
		}
	}
	// 4 keys now (one from the dashboard). Page through them two at a time.
	var seen []string
	next := "/api_keys?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		status, _, body := c.do("GET", next, "", nil)
		if status != 200 {
			t.Fatalf("GET %s = %d %v", next, status, body)
		}
		for _, k := range body["keys"].([]any) {
			key := k.(map[string]any)
			if key["token"] != nil {
				t.Fatal("list shows a token")
			}
			seen = append(seen, key["id"].(string))
		}
		next = ""
		if n, ok := body["next_page_uri"].(string); ok {
			u, _ := url.Parse(n)
			if u.Host == "" {
				t.Fatalf("next_page_uri %q is not absolute", n)
			}
			next = u.RequestURI()
		}
	}
	if len(seen) != 4 || !sort.IsSorted(sort.Reverse(sort.StringSlice(seen))) {
		t.Fatalf("paged ids %v: want 4, newest first", seen)
	}
	// Another account sees none of them.
	if status, _, body := other.do("GET", "/api_keys/"+seen[0], "", nil); status != 404 || body["error_code"] != "ERR_EDGEWAY_NOT_FOUND" {
		t.Fatalf("cross-account get = %d %v", status, body)
	}
	// Update, then delete; the deleted key no longer authenticates.
	id := created["id"].(string)
	if status, _, body := c.do("PATCH", "/api_keys/"+id, `{"description":"renamed"}`, nil); status != 200 || body["description"] != "renamed" {
		t.Fatalf("patch = %d %v", status, body)
	}
	if status, _, _ := c.do("DELETE", "/api_keys/"+id, "", nil); status != 204 {
		t.Fatalf("delete = %d", status)
	}
	gone := apiClient{t: t, base: c.base, key: created["token"].(string)}
	if status, _, _ := gone.do("GET", "/api_keys", "", nil); status != 401 {
		t.Fatalf("deleted key still works: %d", status)
	}
}

func TestAPIBadInput(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		code                     string
		msgHas                   string
	}{
		{"malformed json", "POST", "/api_keys", `{"description":`, nil, 400, "ERR_EDGEWAY_INVALID_JSON", "ends in the middle"},
		{"syntax error", "POST", "/api_keys", `{"description" "x"}`, nil, 400, "ERR_EDGEWAY_INVALID_JSON", "at byte"},
		{"wrong type", "POST", "/api_keys", `{"description": 5}`, nil, 400, "ERR_EDGEWAY_INVALID_JSON", `"description" must be a string`},
		{"unknown field", "POST", "/api_keys", `{"descripton": "x"}`, nil, 400, "ERR_EDGEWAY_INVALID_JSON", `Unknown field "descripton"`},
		{"trailing data", "POST", "/api_keys", `{} {}`, nil, 400, "ERR_EDGEWAY_INVALID_JSON", "after the JSON value"},
		{"not json", "POST", "/api_keys", `description=x`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "ERR_EDGEWAY_UNSUPPORTED_MEDIA_TYPE", "application/json"},
		{"too long description", "POST", "/api_keys", `{"description":"` + strings.Repeat("x", 256) + `"}`, nil, 400, "ERR_EDGEWAY_VALIDATION", ""},
		{"oversized body", "POST", "/api_keys", `{"metadata":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "ERR_EDGEWAY_BODY_TOO_LARGE", ""},
		{"bad limit", "GET", "/api_keys?limit=500", "", nil, 400, "ERR_EDGEWAY_INVALID_PAGINATION", "1 to 100"},
		{"bad before_id", "GET", "/api_keys?before_id=ipp_123", "", nil, 400, "ERR_EDGEWAY_INVALID_PAGINATION", `must start with "ak_"`},
		{"unknown route", "GET", "/nope", "", nil, 404, "ERR_EDGEWAY_NOT_FOUND", ""},
		{"wrong method", "PUT", "/api_keys", "", nil, 405, "ERR_EDGEWAY_METHOD_NOT_ALLOWED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := c.do(tt.method, tt.path, tt.body, tt.headers)
			if status != tt.status || body["error_code"] != tt.code || !strings.Contains(body["msg"].(string), tt.msgHas) {
				t.Fatalf("= %d %v, want %d %s containing %q", status, body, tt.status, tt.code, tt.msgHas)
			}
		})
	}
	// Nothing was written by the refused requests: still only the dashboard's key.
	_, _, list := c.do("GET", "/api_keys", "", nil)
	if n := len(list["keys"].([]any)); n != 1 {
		t.Fatalf("%d keys after refused requests, want 1", n)
	}
}

// TestOpenAPIMatchesRoutes holds openapi.json and the API's route table together: every route is
// documented and every documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	st := newStack(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	for _, r := range st.srv.API.Routes() {
		if strings.HasSuffix(r.Path, "/*") || r.Method == "echo_route_not_found" {
			continue
		}
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(documented)
	sort.Strings(served)
	if diff := cmp.Diff(documented, served); diff != "" {
		t.Fatalf("openapi.json and the route table differ (-documented +served):\n%s", diff)
	}
	// The document is served as JSON without authentication.
	status, _, body := apiClient{t: t, base: st.api.URL}.do("GET", "/openapi.json", "", nil)
	if status != 200 || body["openapi"] != "3.1.0" {
		t.Fatalf("GET /openapi.json = %d", status)
	}
}
