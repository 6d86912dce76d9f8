package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPlanLimitsOnCreate: through the API, a free account's next reserved domain, reserved
// address, IP policy and IP restriction past its plan's limit is refused with 402
// ERR_EDGEWAY_PLAN_LIMIT naming the limit, GET /account shows the usage at the limit, and the
// IP restrictions page shows the refusal above the new-policy form.
func TestPlanLimitsOnCreate(t *testing.T) {
	st := newStack(t, withEdges(t))
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	key := st.keyFor(t, acct, st.userID(t, "owner@example.com"))

	// Up to the free plan's limits: 1 domain, 1 address, 2 policies, 1 restriction.
	var policyID string
	for _, req := range [][2]string{
		{"/reserved_domains", `{"domain":"app.example.com"}`},
		{"/reserved_addrs", ``},
		{"/ip_policies", `{"description":"office"}`},
		{"/ip_policies", `{"description":"home"}`},
	} {
		status, _, body := key.do("POST", req[0], req[1], nil)
		if status != http.StatusCreated {
			t.Fatalf("POST %s below the limit = %d %v", req[0], status, body)
		}
		if req[0] == "/ip_policies" {
			policyID = str(body, "id")
		}
	}
	if status, _, body := key.do("POST", "/ip_restrictions", `{"type":"agent","ip_policy_ids":["`+policyID+`"]}`, nil); status != http.StatusCreated {
		t.Fatalf("first restriction = %d %v", status, body)
	}

	for _, tt := range []struct{ path, body, limit, want string }{
		{"/reserved_domains", `{"domain":"more.example.com"}`, "reserved_domains", "the Free plan allows 1 reserved domains"},
		{"/reserved_addrs", ``, "reserved_addrs", "the Free plan allows 1 reserved TCP addresses"},
		{"/ip_policies", `{"description":"third"}`, "ip_policies", "the Free plan allows 2 IP policies"},
		{"/ip_restrictions", `{"type":"endpoints","ip_policy_ids":["` + policyID + `"]}`, "ip_restrictions", "the Free plan allows 1 IP restrictions"},
	} {
		status, _, body := key.do("POST", tt.path, tt.body, nil)
		d, _ := body["details"].(map[string]any)
		if status != http.StatusPaymentRequired || body["error_code"] != "ERR_EDGEWAY_PLAN_LIMIT" || !strings.Contains(str(body, "msg"), tt.want) ||
			d["limit"] != tt.limit || d["plan"] != "free" {
			t.Errorf("POST %s at the limit = %d %v; want 402 ERR_EDGEWAY_PLAN_LIMIT naming %s", tt.path, status, body, tt.limit)
		}
	}
	_, _, account := key.do("GET", "/account", "", nil)
	usage, limits := account["usage"].(map[string]any), account["limits"].(map[string]any)
	for _, l := range []string{"reserved_domains", "reserved_addrs", "ip_policies", "ip_restrictions"} {
		if usage[l] != limits[l] {
			t.Errorf("GET /account %s: usage %v, limit %v; want them equal", l, usage[l], limits[l])
		}
	}

	// The dashboard's new-policy form shows the refusal, not an error page.
	tok := owner.csrf("/ip-restrictions")
	resp, body := owner.do("POST", "/ip-restrictions/policies", url.Values{"_csrf": {tok}, "description": {"third"}}, nil)
	d := doc(t, body)
	if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(d.Find(`[data-testid="policy-form"] [data-testid="form-error"]`).Text(), "the Free plan allows 2 IP policies") ||
		d.Find(`[data-testid="page-title"]`).Text() != "IP Restrictions" {
		t.Fatalf("dashboard policy at the limit = %d\n%s", resp.StatusCode, body)
	}
	resp, body = owner.do("POST", "/ip-restrictions/restrictions/endpoints", url.Values{"ip_policy_ids": {policyID}},
		map[string]string{"HX-Request": "true", "X-CSRF-Token": tok})
	if resp.StatusCode != http.StatusPaymentRequired ||
		!strings.Contains(doc(t, body).Find(`[data-testid="field-error-ip_policy_ids"]`).Text(), "the Free plan allows 1 IP restrictions") {
		t.Fatalf("dashboard restriction at the limit = %d\n%s", resp.StatusCode, body)
	}
	// Upgrading lifts the limits at once.
	st.setPlan(t, acct, "pro")
	if status, _, body := key.do("POST", "/reserved_domains", `{"domain":"more.example.com"}`, nil); status != http.StatusCreated {
		t.Fatalf("after upgrading = %d %v", status, body)
	}
}
