package server

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/edgeway/edgeway/bff/reservations"
)

// withEdges gives the stack edges in us (TCP ports 20000-20004) and eu (no TCP), as EDGEWAY_EDGES.
func withEdges(t *testing.T) func(*Config) {
	t.Helper()
	regions, err := reservations.ParseRegions(`[
		{"region":"us","http_addr":"127.0.0.1:9000","https_addr":"127.0.0.1:9001","agent_addr":"127.0.0.1:9002","ops_addr":"127.0.0.1:9003","tcp_ports":"20000-20004","base_domain":"us.localhost"},
		{"region":"eu","http_addr":"127.0.0.1:9010","https_addr":"127.0.0.1:9011","agent_addr":"127.0.0.1:9012","ops_addr":"127.0.0.1:9013","tcp_ports":"","base_domain":"eu.localhost"}]`)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.Edges = regions }
}

func field(body map[string]any, name string) string {
	d, _ := body["details"].(map[string]any)
	f, _ := d["fields"].(map[string]any)
	s, _ := f[name].(string)
	return s
}

func TestReservedDomainsAPI(t *testing.T) {
	st := newStack(t, withEdges(t))
	ada, bob := st.newKey(t, "ada@example.com"), st.newKey(t, "bob@example.com")
	st.setPlan(t, st.accountOf(t, "ada@example.com"), "pro") // more than one domain

	status, _, d := ada.do("POST", "/reserved_domains", `{"domain":"App.Example.com","description":"site","metadata":"{\"k\":1}"}`, nil)
	if status != 201 {
		t.Fatalf("create = %d %v", status, d)
	}
	id, _ := d["id"].(string)
	if !strings.HasPrefix(id, "rd_") || d["uri"] != st.api.URL+"/reserved_domains/"+id || d["domain"] != "app.example.com" || d["region"] != "us" ||
		d["cname_target"] != "app.example.com.cname.us.localhost" || d["description"] != "site" || d["metadata"] != `{"k":1}` {
		t.Fatalf("created %v", d)
	}
	if _, err := time.Parse(time.RFC3339, d["created_at"].(string)); err != nil {
		t.Fatalf("created_at: %v", err)
	}
	// A subdomain of the region's base domain needs no CNAME.
	if status, _, body := ada.do("POST", "/reserved_domains", `{"domain":"web.eu.localhost","region":"eu"}`, nil); status != 201 || body["cname_target"] != nil || body["region"] != "eu" {
		t.Fatalf("base-domain subdomain = %d %v", status, body)
	}

	for _, tt := range []struct {
		name   string
		client apiClient
		method string
		path   string
		body   string
		status int
		code   string
		want   string // in msg or a field
	}{
		{"taken by another account", bob, "POST", "/reserved_domains", `{"domain":"app.example.com","region":"eu"}`, 409, "ERR_EDGEWAY_DOMAIN_TAKEN", "reserved by another account"},
		{"already reserved here", ada, "POST", "/reserved_domains", `{"domain":"APP.example.com."}`, 409, "ERR_EDGEWAY_DOMAIN_ALREADY_RESERVED", id},
		{"unknown region", ada, "POST", "/reserved_domains", `{"domain":"x.example.com","region":"mars"}`, 400, "ERR_EDGEWAY_VALIDATION", "valid regions: us, eu, ap, au, sa, jp, in"},
		{"no domain", ada, "POST", "/reserved_domains", ``, 400, "ERR_EDGEWAY_VALIDATION", "enter a domain"},
		{"bad domain", ada, "POST", "/reserved_domains", `{"domain":"-x.example.com"}`, 400, "ERR_EDGEWAY_VALIDATION", "must not start or end with a hyphen"},
		{"wildcard", ada, "POST", "/reserved_domains", `{"domain":"*.example.com"}`, 400, "ERR_EDGEWAY_VALIDATION", "wildcard"},
		{"another region's base domain", ada, "POST", "/reserved_domains", `{"domain":"x.eu.localhost"}`, 400, "ERR_EDGEWAY_VALIDATION", "can only be reserved in region eu"},
		{"read-only field", ada, "POST", "/reserved_domains", `{"domain":"x.example.com","cname_target":"y"}`, 400, "ERR_EDGEWAY_INVALID_JSON", `Unknown field "cname_target"`},
		{"region is immutable", ada, "PATCH", "/reserved_domains/" + id, `{"region":"eu"}`, 400, "ERR_EDGEWAY_REGION_IMMUTABLE", "reserved in region us"},
		{"domain is immutable", ada, "PATCH", "/reserved_domains/" + id, `{"domain":"other.example.com"}`, 400, "ERR_EDGEWAY_VALIDATION", "cannot be changed"},
		{"another account cannot read it", bob, "GET", "/reserved_domains/" + id, ``, 404, "ERR_EDGEWAY_NOT_FOUND", id},
		{"another account cannot delete it", bob, "DELETE", "/reserved_domains/" + id, ``, 404, "ERR_EDGEWAY_NOT_FOUND", id},
		{"before_id of another kind", ada, "GET", "/reserved_domains?before_id=ra_01jd0000000000000000000000", ``, 400, "ERR_EDGEWAY_INVALID_PAGINATION", `must start with "rd_"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := tt.client.do(tt.method, tt.path, tt.body, nil)
			msg, _ := body["msg"].(string)
			all := msg + " " + field(body, "domain") + " " + field(body, "region")
			if status != tt.status || body["error_code"] != tt.code || !strings.Contains(all, tt.want) {
				t.Fatalf("%s %s = %d %v; want %d %s containing %q", tt.method, tt.path, status, body, tt.status, tt.code, tt.want)
			}
		})
	}

	if status, _, body := ada.do("PATCH", "/reserved_domains/"+id, `{"description":"the site","region":"us","domain":"app.example.com"}`, nil); status != 200 ||
		body["description"] != "the site" || body["metadata"] != `{"k":1}` || body["region"] != "us" {
		t.Fatalf("patch = %d %v", status, body)
	}
	if status, _, body := ada.do("GET", "/reserved_domains/"+id, "", nil); status != 200 || body["description"] != "the site" {
		t.Fatalf("get = %d %v", status, body)
	}
	// Newest first, paginated like every list.
	status, _, list := ada.do("GET", "/reserved_domains?limit=1", "", nil)
	items, _ := list["reserved_domains"].([]any)
	next, _ := list["next_page_uri"].(string)
	if status != 200 || len(items) != 1 || items[0].(map[string]any)["domain"] != "web.eu.localhost" || !strings.Contains(next, "before_id=") {
		t.Fatalf("list = %d %v", status, list)
	}
	u, _ := url.Parse(next)
	if status, _, page := ada.do("GET", u.RequestURI(), "", nil); status != 200 || len(page["reserved_domains"].([]any)) != 1 || page["next_page_uri"] != nil {
		t.Fatalf("page 2 = %d %v", status, page)
	}
	if status, _, list := bob.do("GET", "/reserved_domains", "", nil); status != 200 || len(list["reserved_domains"].([]any)) != 0 {
		t.Fatalf("bob's list = %d %v", status, list)
	}

	if status, _, _ := ada.do("DELETE", "/reserved_domains/"+id, "", nil); status != 204 {
		t.Fatalf("delete = %d", status)
	}
	if status, _, _ := ada.do("GET", "/reserved_domains/"+id, "", nil); status != 404 {
		t.Fatalf("get deleted = %d", status)
	}
	// Released, another account may reserve it.
	if status, _, body := bob.do("POST", "/reserved_domains", `{"domain":"app.example.com","region":"eu"}`, nil); status != 201 || body["cname_target"] != "app.example.com.cname.eu.localhost" {
		t.Fatalf("bob reserves = %d %v", status, body)
	}
}

func TestReservedAddrsAPI(t *testing.T) {
	st := newStack(t, withEdges(t))
	ada := st.newKey(t, "ada@example.com")
	st.setPlan(t, st.accountOf(t, "ada@example.com"), "pro") // more than one address

	status, _, a := ada.do("POST", "/reserved_addrs", "", nil)
	if status != 201 {
		t.Fatalf("create = %d %v", status, a)
	}
	id, _ := a["id"].(string)
	host, port, err := net.SplitHostPort(a["addr"].(string))
	n, _ := strconv.Atoi(port)
	if err != nil || !strings.HasPrefix(id, "ra_") || a["uri"] != st.api.URL+"/reserved_addrs/"+id || host != "us.localhost" || n < 20000 || n > 20004 || a["region"] != "us" {
		t.Fatalf("created %v", a)
	}
	if status, _, b := ada.do("POST", "/reserved_addrs", `{"region":"US","description":"db"}`, nil); status != 201 || b["addr"] == a["addr"] || b["description"] != "db" {
		t.Fatalf("second = %d %v", status, b)
	}

	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, want               string
	}{
		{"region without TCP", "POST", "/reserved_addrs", `{"region":"eu"}`, 400, "ERR_EDGEWAY_REGION_NOT_SERVED", "Region eu (Europe (Frankfurt)) has no edge serving TCP addresses in this deployment, so no address can be reserved there. Choose one of: us."},
		{"region without edge", "POST", "/reserved_addrs", `{"region":"ap"}`, 400, "ERR_EDGEWAY_REGION_NOT_SERVED", "Region ap"},
		{"unknown region", "POST", "/reserved_addrs", `{"region":"xx"}`, 400, "ERR_EDGEWAY_VALIDATION", "valid regions"},
		{"addr is allocated", "POST", "/reserved_addrs", `{"addr":"us.localhost:20001"}`, 400, "ERR_EDGEWAY_VALIDATION", "allocated by the server"},
		{"region is immutable", "PATCH", "/reserved_addrs/" + id, `{"region":"eu"}`, 400, "ERR_EDGEWAY_REGION_IMMUTABLE", "reserved in region us"},
		{"unknown id", "GET", "/reserved_addrs/ra_01jd0000000000000000000000", "", 404, "ERR_EDGEWAY_NOT_FOUND", "Reserved address ra_01jd0000000000000000000000 was not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := ada.do(tt.method, tt.path, tt.body, nil)
			msg, _ := body["msg"].(string)
			all := msg + " " + field(body, "region") + " " + field(body, "addr")
			if status != tt.status || body["error_code"] != tt.code || !strings.Contains(all, tt.want) {
				t.Fatalf("%s %s = %d %v; want %d %s containing %q", tt.method, tt.path, status, body, tt.status, tt.code, tt.want)
			}
		})
	}
	// The last three ports, then none is left.
	for i := 0; i < 3; i++ {
		if status, _, b := ada.do("POST", "/reserved_addrs", "{}", nil); status != 201 {
			t.Fatalf("create %d = %d %v", i, status, b)
		}
	}
	if status, _, b := ada.do("POST", "/reserved_addrs", "{}", nil); status != 409 || b["error_code"] != "ERR_EDGEWAY_NO_ADDRS_FREE" {
		t.Fatalf("full = %d %v", status, b)
	}

	if status, _, b := ada.do("PATCH", "/reserved_addrs/"+id, `{"description":"ssh","addr":"`+a["addr"].(string)+`"}`, nil); status != 200 || b["description"] != "ssh" || b["addr"] != a["addr"] {
		t.Fatalf("patch = %d %v", status, b)
	}
	if status, _, list := ada.do("GET", "/reserved_addrs", "", nil); status != 200 || len(list["reserved_addrs"].([]any)) != 5 || list["next_page_uri"] != nil {
		t.Fatalf("list = %d %v", status, list)
	}
	if status, _, _ := ada.do("DELETE", "/reserved_addrs/"+id, "", nil); status != 204 {
		t.Fatalf("delete = %d", status)
	}
	if status, _, b := ada.do("POST", "/reserved_addrs", "{}", nil); status != 201 || b["addr"] != a["addr"] {
		t.Fatalf("the released port is allocated again: %d %v", status, b)
	}
}

func TestReservationsEndpointsPage(t *testing.T) {
	st := newStack(t, withEdges(t))
	b := st.browser(t)
	b.signup("ada@example.com")
	tok := b.csrf("/endpoints")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}

	_, page := b.do("GET", "/endpoints", nil, nil)
	d := doc(t, page)
	if d.Find(`[data-testid="page-title"]`).Text() != "Endpoints" || d.Find(`[data-testid="nav-endpoints"][aria-current="page"]`).Length() != 1 ||
		d.Find(`[data-testid="domain-form"]`).Length() != 1 || d.Find(`[data-testid="addr-form"]`).Length() != 1 ||
		d.Find(`[data-testid="domains-empty"]`).Length() != 1 || d.Find(`[data-testid="addrs-empty"]`).Length() != 1 {
		t.Fatalf("endpoints page:\n%s", page)
	}
	// Every input has a label; regions list all seven, those without TCP disabled for addresses.
	d.Find("input:not([type=hidden]), select").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("id")
		if id == "" || d.Find(`label[for="`+id+`"]`).Length() != 1 {
			t.Errorf("input %s has no label", id)
		}
	})
	if n := d.Find(`#domain-region option`).Length(); n != 7 {
		t.Fatalf("domain regions = %d", n)
	}
	if sel, _ := d.Find(`#addr-region option[selected]`).Attr("value"); sel != "us" || d.Find(`#addr-region option[disabled]`).Length() != 6 {
		t.Fatalf("addr regions: selected %q, disabled %d", sel, d.Find(`#addr-region option[disabled]`).Length())
	}

	// Problems show next to their field.
	resp, body := b.do("POST", "/endpoints/domains", url.Values{"domain": {"bad_domain.com"}, "region": {"us"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-domain"]`).Text(), "'_' is not allowed") {
		t.Fatalf("invalid domain = %d\n%s", resp.StatusCode, body)
	}
	if v, _ := doc(t, body).Find(`#domain-name`).Attr("aria-invalid"); v != "true" {
		t.Fatalf("aria-invalid = %q", v)
	}
	resp, body = b.do("POST", "/endpoints/addrs", url.Values{"region": {"eu"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-region"]`).Text(), "has no edge serving TCP addresses") {
		t.Fatalf("addr in eu = %d\n%s", resp.StatusCode, body)
	}
	// Without htmx, the whole page comes back with the problem.
	resp, body = b.do("POST", "/endpoints/domains", url.Values{"_csrf": {tok}, "domain": {"x.eu.localhost"}, "region": {"us"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc(t, body).Find(`[data-testid="page-title"]`).Length() != 1 ||
		!strings.Contains(doc(t, body).Find(`[data-testid="domain-form"] [data-testid="field-error-domain"]`).Text(), "region eu") {
		t.Fatalf("no-htmx error = %d\n%s", resp.StatusCode, body)
	}

	resp, body = b.do("POST", "/endpoints/domains", url.Values{"domain": {"App.Example.com"}, "region": {"eu"}, "description": {"site"}}, hx)
	created := doc(t, body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(created.Find(`[data-testid="domain-created"]`).Text(), "app.example.com.cname.eu.localhost") ||
		created.Find(`[data-testid="domain-row"]`).Length() != 1 || created.Find(`[data-testid="domain-form"]`).Length() != 1 {
		t.Fatalf("create domain = %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.do("POST", "/endpoints/addrs", url.Values{"region": {"us"}, "description": {"db"}}, hx)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(doc(t, body).Find(`[data-testid="addr-created"]`).Text(), "us.localhost:200") {
		t.Fatalf("create addr = %d\n%s", resp.StatusCode, body)
	}
	// The same domain again: inline, with its own code's message.
	resp, body = b.do("POST", "/endpoints/domains", url.Values{"domain": {"app.example.com"}, "region": {"us"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-domain"]`).Text(), "already reserved in this account") {
		t.Fatalf("duplicate = %d\n%s", resp.StatusCode, body)
	}
	// The free plan allows one of each: the next is refused in the form, naming the limit.
	for _, tt := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/endpoints/domains", url.Values{"domain": {"more.example.com"}, "region": {"us"}}, "the Free plan allows 1 reserved domains"},
		{"/endpoints/addrs", url.Values{"region": {"us"}}, "the Free plan allows 1 reserved TCP addresses"},
	} {
		resp, body = b.do("POST", tt.path, tt.form, hx)
		msg := doc(t, body).Find(`form [data-testid="form-error"]`).Text()
		if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(msg, tt.want) || !strings.Contains(msg, "Upgrade to Pro") {
			t.Fatalf("%s at the plan limit = %d\n%s", tt.path, resp.StatusCode, body)
		}
	}

	_, page = b.do("GET", "/endpoints", nil, nil)
	d = doc(t, page)
	row := d.Find(`[data-testid="domain-row"]`)
	if row.Length() != 1 || row.Find(`[data-testid="domain-value"]`).Text() != "app.example.com" ||
		!strings.Contains(row.Find(`[data-testid="domain-row-region"]`).Text(), "Europe (Frankfurt)") {
		t.Fatalf("domain rows:\n%s", page)
	}
	arow := d.Find(`[data-testid="addr-row"]`)
	if arow.Length() != 1 || !strings.Contains(arow.Find(`[data-testid="addr-row-region"]`).Text(), "United States (Ohio)") {
		t.Fatalf("addr rows:\n%s", page)
	}
	for _, testid := range []string{"domain-delete", "addr-delete"} {
		btn := d.Find(`[data-testid="` + testid + `"]`)
		if c, _ := btn.Attr("hx-confirm"); !strings.HasPrefix(c, "Release ") {
			t.Fatalf("%s has no confirmation: %q", testid, c)
		}
	}
	domainID, _ := row.Attr("data-id")
	addrID, _ := arow.Attr("data-id")
	if resp, _ := b.do("DELETE", "/endpoints/domains/"+domainID, nil, hx); resp.StatusCode != 200 {
		t.Fatalf("delete domain = %d", resp.StatusCode)
	}
	if resp, _ := b.do("DELETE", "/endpoints/addrs/"+addrID, nil, hx); resp.StatusCode != 200 {
		t.Fatalf("delete addr = %d", resp.StatusCode)
	}
	if resp, _ := b.do("DELETE", "/endpoints/addrs/"+addrID, nil, hx); resp.StatusCode != 404 {
		t.Fatalf("delete addr twice = %d", resp.StatusCode)
	}
	_, page = b.do("GET", "/endpoints", nil, nil)
	if d := doc(t, page); d.Find(`[data-testid="domain-row"]`).Length()+d.Find(`[data-testid="addr-row"]`).Length() != 0 {
		t.Fatal("deleted reservations still listed")
	}
}
