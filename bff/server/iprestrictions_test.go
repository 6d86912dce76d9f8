package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/mailpittest"
)

// str returns a string member of a JSON object ("" when absent).
func str(body map[string]any, name string) string {
	s, _ := body[name].(string)
	return s
}

// ipErr asserts an API error response: status and error code.
func ipErr(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error_code"] != wantCode {
		t.Fatalf("%s = %d %v, want %d %s", what, status, body, wantStatus, wantCode)
	}
}

func TestIPPoliciesAndRulesAPI(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	st.setPlan(t, st.accountOf(t, "ada@example.com"), "pro") // more restrictions than the free plan's
	status, _, pol := c.do("POST", "/ip_policies", `{"description":"office","metadata":"{\"team\":\"ops\"}"}`, nil)
	if status != 201 || !strings.HasPrefix(str(pol, "id"), "ipp_") || str(pol, "uri") != st.api.URL+"/ip_policies/"+str(pol, "id") {
		t.Fatalf("create policy = %d %v", status, pol)
	}
	pid := str(pol, "id")

	// Rule validation, with the reference's codes.
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"host bits", `{"ip_policy_id":"` + pid + `","cidr":"192.168.1.5/24","action":"allow"}`, 400, "ERR_EDGEWAY_1409", "192.168.1.5/24 is not a network address; did you mean 192.168.1.0/24?"},
		{"no mask", `{"ip_policy_id":"` + pid + `","cidr":"192.168.1.5","action":"allow"}`, 400, "ERR_EDGEWAY_1413", "192.168.1.5/32"},
		{"bad action", `{"ip_policy_id":"` + pid + `","cidr":"192.168.1.0/24","action":"block"}`, 400, "ERR_EDGEWAY_1422", "allow or deny"},
		{"zone", `{"ip_policy_id":"` + pid + `","cidr":"fe80::1%eth0/64","action":"allow"}`, 400, "ERR_EDGEWAY_VALIDATION", "not a CIDR"},
		{"unknown policy", `{"ip_policy_id":"ipp_01jd3zzzzzzzzzzzzzzzzzzzzz","cidr":"10.0.0.0/8","action":"allow"}`, 404, "ERR_EDGEWAY_NOT_FOUND", "ipp_01jd3zzzzzzzzzzzzzzzzzzzzz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := c.do("POST", "/ip_policy_rules", tc.body, nil)
			ipErr(t, tc.name, status, body, tc.status, tc.code)
			if !strings.Contains(str(body, "msg"), tc.msg) {
				t.Fatalf("msg %q, want it to contain %q", str(body, "msg"), tc.msg)
			}
		})
	}
	_, _, body := c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"192.168.1.5/24","action":"allow"}`, nil)
	if body["details"].(map[string]any)["suggestion"] != "192.168.1.0/24" {
		t.Fatalf("no suggestion in %v", body)
	}

	status, _, rule := c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"10.0.0.0/8","action":"ALLOW","description":"vpn"}`, nil)
	if status != 201 || str(rule, "cidr") != "10.0.0.0/8" || str(rule, "action") != "allow" ||
		rule["ip_policy"].(map[string]any)["id"] != pid || rule["ip_policy"].(map[string]any)["uri"] != st.api.URL+"/ip_policies/"+pid {
		t.Fatalf("create rule = %d %v", status, rule)
	}
	rid := str(rule, "id")
	// IPv6, /0 and an IPv4-mapped network (stored as IPv4).
	for cidr, want := range map[string]string{"2001:db8::/32": "2001:db8::/32", "::/0": "::/0", "::ffff:198.51.100.0/120": "198.51.100.0/24"} {
		status, _, r := c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"`+cidr+`","action":"deny"}`, nil)
		if status != 201 || str(r, "cidr") != want {
			t.Fatalf("create %s = %d %v", cidr, status, r)
		}
	}
	status, _, body = c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"10.0.0.0/8","action":"deny"}`, nil)
	ipErr(t, "duplicate", status, body, 409, "ERR_EDGEWAY_1408")

	// Update: cidr and description yes, action no.
	status, _, body = c.do("PATCH", "/ip_policy_rules/"+rid, `{"action":"deny"}`, nil)
	ipErr(t, "change action", status, body, 400, "ERR_EDGEWAY_VALIDATION")
	status, _, body = c.do("PATCH", "/ip_policy_rules/"+rid, `{"cidr":"10.1.0.0/16","description":"vpn v2"}`, nil)
	if status != 200 || str(body, "cidr") != "10.1.0.0/16" || str(body, "description") != "vpn v2" || str(body, "action") != "allow" {
		t.Fatalf("update rule = %d %v", status, body)
	}
	status, _, body = c.do("PATCH", "/ip_policy_rules/"+rid, `{"cidr":"2001:db8::/32"}`, nil)
	ipErr(t, "update to a duplicate", status, body, 409, "ERR_EDGEWAY_1408")

	// Lists: paginated, named as in the reference, filterable by policy.
	status, _, list := c.do("GET", "/ip_policy_rules?limit=2&ip_policy_id="+pid, "", nil)
	if status != 200 || len(list["ip_policy_rules"].([]any)) != 2 || list["next_page_uri"] == nil {
		t.Fatalf("list rules = %d %v", status, list)
	}
	next := list["next_page_uri"].(string)
	status, _, list = c.do("GET", strings.TrimPrefix(next, st.api.URL), "", nil)
	if status != 200 || len(list["ip_policy_rules"].([]any)) != 2 || list["next_page_uri"] != nil {
		t.Fatalf("second page = %d %v", status, list)
	}
	if status, _, list := c.do("GET", "/ip_policies", "", nil); status != 200 || len(list["ip_policies"].([]any)) != 1 {
		t.Fatalf("list policies = %d %v", status, list)
	}

	// Restrictions: type, policies, one per type.
	status, _, body = c.do("POST", "/ip_restrictions", `{"type":"console","ip_policy_ids":["`+pid+`"]}`, nil)
	ipErr(t, "bad type", status, body, 400, "ERR_EDGEWAY_1803")
	status, _, body = c.do("POST", "/ip_restrictions", `{"type":"agent","ip_policy_ids":[]}`, nil)
	ipErr(t, "no policy", status, body, 400, "ERR_EDGEWAY_1804")
	status, _, body = c.do("POST", "/ip_restrictions", `{"type":"agent","ip_policy_ids":["ipp_01jd3zzzzzzzzzzzzzzzzzzzzz"]}`, nil)
	ipErr(t, "missing policy", status, body, 400, "ERR_EDGEWAY_1801")
	status, _, rx := c.do("POST", "/ip_restrictions", `{"type":"agent","ip_policy_ids":["`+pid+`"],"enforced":true,"description":"agents"}`, nil)
	if status != 201 || !strings.HasPrefix(str(rx, "id"), "ipx_") || rx["enforced"] != true || str(rx, "type") != "agent" ||
		rx["ip_policies"].([]any)[0].(map[string]any)["id"] != pid {
		t.Fatalf("create restriction = %d %v", status, rx)
	}
	status, _, body = c.do("POST", "/ip_restrictions", `{"type":"agent","ip_policy_ids":["`+pid+`"]}`, nil)
	ipErr(t, "second agent restriction", status, body, 409, "ERR_EDGEWAY_1802")
	status, _, body = c.do("PATCH", "/ip_restrictions/"+str(rx, "id"), `{"type":"api"}`, nil)
	ipErr(t, "change type", status, body, 400, "ERR_EDGEWAY_VALIDATION")
	status, _, body = c.do("PATCH", "/ip_restrictions/"+str(rx, "id"), `{"enforced":false}`, nil)
	if status != 200 || body["enforced"] != false || len(body["ip_policies"].([]any)) != 1 {
		t.Fatalf("update restriction = %d %v", status, body)
	}
	status, _, body = c.do("DELETE", "/ip_policies/"+pid, "", nil)
	ipErr(t, "delete a policy in use", status, body, 409, "ERR_EDGEWAY_1420")

	// The only rule of a policy the dashboard restriction uses cannot be deleted.
	_, _, one := c.do("POST", "/ip_policies", `{"description":"one rule"}`, nil)
	_, _, only := c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+str(one, "id")+`","cidr":"0.0.0.0/0","action":"allow"}`, nil)
	_, _, dash := c.do("POST", "/ip_restrictions", `{"type":"dashboard","ip_policy_ids":["`+str(one, "id")+`"],"enforced":true}`, nil)
	status, _, body = c.do("DELETE", "/ip_policy_rules/"+str(only, "id"), "", nil)
	ipErr(t, "delete the only rule", status, body, 409, "ERR_EDGEWAY_1419")
	if status, _, _ := c.do("DELETE", "/ip_restrictions/"+str(dash, "id"), "", nil); status != 204 {
		t.Fatalf("delete restriction = %d", status)
	}
	if status, _, _ := c.do("DELETE", "/ip_policy_rules/"+str(only, "id"), "", nil); status != 204 {
		t.Fatalf("delete the rule once unused = %d", status)
	}
	if status, _, _ := c.do("DELETE", "/ip_restrictions/"+str(rx, "id"), "", nil); status != 204 {
		t.Fatal("delete restriction")
	}
	if status, _, _ := c.do("DELETE", "/ip_policies/"+pid, "", nil); status != 204 {
		t.Fatal("delete policy once unused")
	}
	if status, _, _ := c.do("GET", "/ip_policy_rules/"+rid, "", nil); status != 404 {
		t.Fatal("a deleted policy's rules remain")
	}
	// Another account sees none of it.
	other := st.newKey(t, "bob@example.com")
	if status, _, body := other.do("GET", "/ip_policies/"+str(one, "id"), "", nil); status != 404 {
		t.Fatalf("other account = %d %v", status, body)
	}
}

func TestIPRestrictionEnforcedOnAPI(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	_, _, pol := c.do("POST", "/ip_policies", `{"description":"deny loopback"}`, nil)
	pid := str(pol, "id")
	c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"127.0.0.1/32","action":"deny"}`, nil)
	c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"127.0.0.0/8","action":"allow"}`, nil)
	status, _, rx := c.do("POST", "/ip_restrictions", `{"type":"api","ip_policy_ids":["`+pid+`"]}`, nil)
	if status != 201 || rx["enforced"] != false {
		t.Fatalf("create = %d %v", status, rx)
	}
	// Warn only: the call passes with the warning header.
	status, h, _ := c.do("GET", "/ip_policies", "", nil)
	if status != 200 || !strings.HasPrefix(h.Get("Edgeway-IP-Restriction-Warning"), "ERR_EDGEWAY_1211") ||
		!strings.Contains(h.Get("Edgeway-IP-Restriction-Warning"), "127.0.0.1") {
		t.Fatalf("warn only = %d, header %q", status, h.Get("Edgeway-IP-Restriction-Warning"))
	}
	status, _, body := c.do("PATCH", "/ip_restrictions/"+str(rx, "id"), `{"enforced":true}`, nil)
	if status != 200 {
		t.Fatalf("enforce = %d %v", status, body)
	}
	// Enforced: refused, naming the IP, restriction and policy; a spoofed X-Forwarded-For from an
	// untrusted peer changes nothing.
	for _, hdr := range []map[string]string{nil, {"X-Forwarded-For": "203.0.113.9"}} {
		status, _, body = c.do("GET", "/api_keys", "", hdr)
		ipErr(t, "blocked call", status, body, 403, "ERR_EDGEWAY_220")
		d := body["details"].(map[string]any)
		if d["client_ip"] != "127.0.0.1" || d["ip_restriction_id"] != str(rx, "id") || d["ip_policy_id"] != pid ||
			!strings.Contains(str(body, "msg"), "127.0.0.1") || !strings.Contains(str(body, "msg"), "deny loopback") {
			t.Fatalf("blocked body %v", body)
		}
	}
	// Another account's API is not affected.
	if status, _, _ := st.newKey(t, "bob@example.com").do("GET", "/api_keys", "", nil); status != 200 {
		t.Fatalf("other account = %d", status)
	}
	// The dashboard is not restricted by the api restriction: remove it there, and the API works again.
	b := st.browser(t)
	b.login("ada@example.com", "correct horse battery")
	tok := b.csrf("/ip-restrictions")
	if resp, body := b.do("DELETE", "/ip-restrictions/restrictions/api", nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}); resp.StatusCode != 200 {
		t.Fatalf("remove in the dashboard = %d %s", resp.StatusCode, body)
	}
	if status, h, _ := c.do("GET", "/api_keys", "", nil); status != 200 || h.Get("Edgeway-IP-Restriction-Warning") != "" {
		t.Fatalf("after removal = %d", status)
	}
}

func TestIPRestrictionsTrustedProxy(t *testing.T) {
	st := newStack(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	c := st.newKey(t, "ada@example.com")
	_, _, pol := c.do("POST", "/ip_policies", `{}`, nil)
	pid := str(pol, "id")
	c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"203.0.113.0/24","action":"allow"}`, nil)
	c.do("POST", "/ip_policy_rules", `{"ip_policy_id":"`+pid+`","cidr":"2001:db8::/32","action":"allow"}`, nil)
	c.do("POST", "/ip_restrictions", `{"type":"api","ip_policy_ids":["`+pid+`"],"enforced":true}`, nil)
	for xff, want := range map[string]int{"203.0.113.9": 200, "198.51.100.1": 403, "2001:db8::5": 200, "::ffff:203.0.113.9": 200, "2001:db9::1": 403} {
		if status, _, body := c.do("GET", "/ip_policies", "", map[string]string{"X-Forwarded-For": xff}); status != want {
			t.Errorf("X-Forwarded-For %s from a trusted proxy = %d %v, want %d", xff, status, body, want)
		}
	}
}

var recoveryLink = regexp.MustCompile(`https?://\S+/ip-recovery/ewr_\S+`)

func TestIPDashboardLockoutConfirmBlockAndRecoverByEmail(t *testing.T) {
	smtpAddr, mailAPI := mailpittest.Start(t)
	st := newStack(t, func(c *Config) { c.SMTPAddr, c.SMTPFrom = smtpAddr, "Edgeway <noreply@edgeway.local>" })
	b := st.browser(t)
	b.signup("ada@example.com")
	tok := b.csrf("/ip-restrictions")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}

	// A policy denying the test client's address.
	resp, body := b.do("POST", "/ip-restrictions/policies", url.Values{"_csrf": {tok}, "description": {"Block loopback"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create policy = %d %s", resp.StatusCode, body)
	}
	_, page := b.do("GET", "/ip-restrictions", nil, nil)
	d := doc(t, page)
	pid, _ := d.Find(`[data-testid="policy"]`).Attr("data-id")
	if pid == "" || strings.TrimSpace(d.Find(`[data-testid="client-ip"]`).Text()) != "127.0.0.1" || d.Find(`[data-testid="ip-semantics"]`).Length() != 1 {
		t.Fatalf("page without policy, client IP or semantics:\n%s", page)
	}
	resp, body = b.do("POST", "/ip-restrictions/policies/"+pid+"/rules", url.Values{"cidr": {"127.0.0.5/24"}, "action": {"deny"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-cidr"]`).Text(), "did you mean 127.0.0.0/24?") {
		t.Fatalf("host bits = %d %s", resp.StatusCode, body)
	}
	resp, body = b.do("POST", "/ip-restrictions/policies/"+pid+"/rules", url.Values{"cidr": {"127.0.0.1/32"}, "action": {"deny"}, "description": {"me"}}, hx)
	if resp.StatusCode != http.StatusCreated || doc(t, body).Find(`[data-testid="rule-row"][data-cidr="127.0.0.1/32"]`).Length() != 1 {
		t.Fatalf("add rule = %d %s", resp.StatusCode, body)
	}

	// Attaching it to the dashboard restriction, enforced, would block us: explained, not saved.
	form := url.Values{"ip_policy_ids": {pid}, "enforced": {"1"}}
	resp, body = b.do("POST", "/ip-restrictions/restrictions/dashboard", form, hx)
	warning := strings.TrimSpace(doc(t, body).Find(`[data-testid="lockout-warning"]`).Text())
	if resp.StatusCode != http.StatusConflict || !strings.Contains(warning, "127.0.0.1") || !strings.Contains(warning, "Block loopback") ||
		doc(t, body).Find(`[data-testid="restriction-confirm"]`).Length() != 1 {
		t.Fatalf("unconfirmed lockout = %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("the unconfirmed change was saved: /agents = %d", resp.StatusCode)
	}
	// Confirmed: saved, and the next page is blocked.
	form.Set("confirm", "1")
	if resp, body = b.do("POST", "/ip-restrictions/restrictions/dashboard", form, hx); resp.StatusCode != 200 {
		t.Fatalf("confirmed = %d %s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/agents", nil, nil)
	d = doc(t, body)
	if resp.StatusCode != http.StatusForbidden || d.Find(`[data-testid="ip-blocked"]`).AttrOr("data-error-code", "") != "ERR_EDGEWAY_1212" ||
		d.Find(`[data-testid="blocked-ip"]`).Text() != "127.0.0.1" || !strings.HasPrefix(d.Find(`[data-testid="blocked-restriction"]`).Text(), "ipx_") ||
		!strings.Contains(d.Find(`[data-testid="blocked-policy"]`).Text(), "Block loopback") || d.Find(`[data-testid="recovery-form"]`).Length() != 1 {
		t.Fatalf("blocked page = %d\n%s", resp.StatusCode, body)
	}
	// htmx requests are refused too and reload into the blocked page; JSON clients get the code.
	if resp, _ := b.do("GET", "/api-keys", nil, hx); resp.StatusCode != 403 || resp.Header.Get("HX-Refresh") != "true" {
		t.Fatalf("htmx while blocked = %d %v", resp.StatusCode, resp.Header)
	}
	if _, body := b.do("GET", "/agents", nil, map[string]string{"Accept": "application/json"}); !strings.Contains(body, `"ERR_EDGEWAY_1212"`) {
		t.Fatalf("JSON while blocked: %s", body)
	}

	// The recovery email: the same answer for an unknown address, and only the account's
	// administrators get a link.
	rtok := csrfField.FindStringSubmatch(page)[1]
	for _, email := range []string{"nobody@example.com", "ada@example.com"} {
		resp, body = b.do("POST", "/ip-recovery", url.Values{"_csrf": {rtok}, "email": {email}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": rtok})
		if resp.StatusCode != 200 || doc(t, body).Find(`[data-testid="recovery-sent"]`).Length() != 1 {
			t.Fatalf("request recovery for %s = %d %s", email, resp.StatusCode, body)
		}
	}
	st.srv.IPRecovery.Wait()
	mails := mailpittest.Messages(t, mailAPI, true)
	if len(mails) != 1 || mails[0].To[0].Address != "ada@example.com" {
		t.Fatalf("mails = %+v", mails)
	}
	link := recoveryLink.FindString(mails[0].Text)
	if !strings.HasPrefix(link, st.dashboard.URL+"/ip-recovery/") {
		t.Fatalf("no link in %q", mails[0].Text)
	}
	path := strings.TrimPrefix(link, st.dashboard.URL)

	// Signed out, the link leads to the login page first.
	anon := st.browser(t)
	if resp, _ := anon.do("GET", path, nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("signed-out link = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Signed in (still blocked), the link opens; allowing the current IP restores access.
	resp, body = b.do("GET", path, nil, nil)
	if resp.StatusCode != 200 || doc(t, body).Find(`[data-testid="recovery-allow-ip"]`).Length() != 1 || doc(t, body).Find(`[data-testid="recovery-ip"]`).Text() != "127.0.0.1" {
		t.Fatalf("recovery page = %d %s", resp.StatusCode, body)
	}
	ftok := csrfField.FindStringSubmatch(body)[1]
	if resp, body := b.do("POST", path, url.Values{"_csrf": {ftok}, "action": {"allow_ip"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("apply = %d %s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/ip-restrictions", nil, nil)
	d = doc(t, body)
	if resp.StatusCode != 200 || d.Find(`[data-testid="client-ip-decision"]`).AttrOr("data-allowed", "") != "true" ||
		d.Find(`[data-testid="restriction-dashboard"]`).AttrOr("data-enforced", "") != "true" {
		t.Fatalf("after recovery = %d\n%s", resp.StatusCode, body)
	}
	// Every step is an audit event of the account.
	evs := st.auditTypes(t, st.accountOf(t, "ada@example.com"))
	for _, typ := range []string{"ip_policy_created.v0", "ip_policy_rule_created.v0", "ip_restriction_created.v0",
		"ip_recovery_link_sent.v0", "ip_recovery_link_used.v0", "ip_policy_rule_deleted.v0", "ip_restriction_updated.v0"} {
		if _, ok := evs[typ]; !ok {
			t.Errorf("no %s audit event (have %v)", typ, evs)
		}
	}
	if e := evs["ip_recovery_link_used.v0"]; e.Principal.Subject != "ada@example.com" || e.Principal.Source != "Dashboard" {
		t.Errorf("recovery principal %+v", e.Principal)
	}
	// Single use.
	if resp, body := b.do("POST", path, url.Values{"_csrf": {ftok}, "action": {"disable"}}, nil); resp.StatusCode != http.StatusGone ||
		!strings.Contains(body, "already used") {
		t.Fatalf("second use = %d %s", resp.StatusCode, body)
	}
}

func TestIPRecoveryLinkRules(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	st.newKey(t, "bob@example.com") // another account
	ctx := t.Context()
	if _, err := st.srv.IPRecovery.Link(ctx, "nobody@example.com"); err == nil {
		t.Fatal("a link for an unknown email")
	}
	link, err := st.srv.IPRecovery.Link(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link, st.dashboard.URL)
	// Another account's administrator cannot use it.
	bob := st.browser(t)
	bob.login("bob@example.com", "correct horse battery")
	if resp, _ := bob.do("GET", path, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("someone else's link = %d", resp.StatusCode)
	}
	var ttl float64
	st.srv.db.QueryRow(ctx, `select extract(epoch from max(expires_at - created_at)) from ip_recovery_tokens`).Scan(&ttl)
	if ttl < 14*60 || ttl > 15*60+5 {
		t.Fatalf("links live %v seconds, want 15 minutes", ttl)
	}
	// Expired links do not work.
	if _, err := st.srv.db.Exec(ctx, `update ip_recovery_tokens set expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do("GET", path, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("expired link = %d", resp.StatusCode)
	}
	// Requests are rate-limited per IP.
	tok := b.csrf("/ip-recovery")
	var last int
	for i := 0; i < 12; i++ {
		resp, _ := b.do("POST", "/ip-recovery", url.Values{"_csrf": {tok}, "email": {fmt.Sprintf("x%d@example.com", i)}}, nil)
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("12 requests from one IP: last = %d", last)
	}
	st.srv.IPRecovery.Wait()
}

func TestIPDashboardWarnOnlyBanner(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	_, _, pol := c.do("POST", "/ip_policies", `{"description":"nobody"}`, nil)
	c.do("POST", "/ip_restrictions", `{"type":"dashboard","ip_policy_ids":["`+str(pol, "id")+`"],"enforced":false}`, nil)
	b := st.browser(t)
	b.login("ada@example.com", "correct horse battery")
	resp, body := b.do("GET", "/agents", nil, nil)
	d := doc(t, body)
	if resp.StatusCode != 200 || d.Find(`[data-testid="ip-warning"]`).AttrOr("data-error-code", "") != "ERR_EDGEWAY_1211" ||
		d.Find(`[data-testid="ip-warning-ip"]`).Text() != "127.0.0.1" || !strings.HasPrefix(resp.Header.Get("Edgeway-IP-Restriction-Warning"), "ERR_EDGEWAY_1211") {
		t.Fatalf("warn only = %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}

// TestIPRestrictionReachesOtherReplicaWithinASecond runs a second bff on the same database: a
// change made through one is enforced by the other within a second.
func TestIPRestrictionReachesOtherReplicaWithinASecond(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	srv2, err := New(Config{PublicURL: st.dashboard.URL, APIURL: st.api.URL, AuthPolicy: testPolicy, BodyLimit: 64 << 10},
		slog.New(slog.NewTextHandler(io.Discard, nil)), st.srv.db)
	if err != nil {
		t.Fatal(err)
	}
	api2 := httptest.NewServer(srv2.API)
	t.Cleanup(api2.Close)
	c2 := apiClient{t: t, base: api2.URL, key: c.key}
	if status, _, _ := c2.do("GET", "/ip_policies", "", nil); status != 200 {
		t.Fatal("replica 2 before the restriction")
	}
	_, _, pol := c.do("POST", "/ip_policies", `{}`, nil)
	start := time.Now()
	c.do("POST", "/ip_restrictions", `{"type":"api","ip_policy_ids":["`+str(pol, "id")+`"],"enforced":true}`, nil)
	for {
		status, _, body := c2.do("GET", "/ip_policies", "", nil)
		if status == 403 && body["error_code"] == "ERR_EDGEWAY_220" {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("replica 2 still serves %s after a second", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("replica 2 enforced the new restriction after %s", time.Since(start))
}

func TestIPDashboardRuleDeleteAndValidation(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	tok := b.csrf("/ip-restrictions")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}
	b.do("POST", "/ip-restrictions/policies", url.Values{"_csrf": {tok}, "description": {"Loopback"}}, nil)
	_, page := b.do("GET", "/ip-restrictions", nil, nil)
	pid, _ := doc(t, page).Find(`[data-testid="policy"]`).Attr("data-id")

	// No policy chosen: the card says so.
	resp, body := b.do("POST", "/ip-restrictions/restrictions/dashboard", url.Values{"enforced": {"1"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-ip_policy_ids"]`).Text(), "at least one") {
		t.Fatalf("no policy = %d %s", resp.StatusCode, body)
	}
	_, body = b.do("POST", "/ip-restrictions/policies/"+pid+"/rules", url.Values{"cidr": {"127.0.0.0/8"}, "action": {"allow"}}, hx)
	allow, _ := doc(t, body).Find(`[data-testid="rule-row"]`).Attr("data-id")
	if resp, body := b.do("POST", "/ip-restrictions/restrictions/dashboard", url.Values{"ip_policy_ids": {pid}, "enforced": {"1"}}, hx); resp.StatusCode != 200 {
		t.Fatalf("restriction allowing me = %d %s", resp.StatusCode, body)
	}
	// The only rule of a dashboard policy: kept, with the reason in its row.
	resp, body = b.do("DELETE", "/ip-restrictions/rules/"+allow, nil, hx)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(doc(t, body).Find(`[data-testid="rule-row-error"]`).Text(), "only rule") {
		t.Fatalf("delete only rule = %d %s", resp.StatusCode, body)
	}
	// With a second rule, deleting the allow would block me: asked to confirm first.
	b.do("POST", "/ip-restrictions/policies/"+pid+"/rules", url.Values{"cidr": {"192.0.2.0/24"}, "action": {"allow"}}, hx)
	resp, body = b.do("DELETE", "/ip-restrictions/rules/"+allow, nil, hx)
	if resp.StatusCode != http.StatusConflict || doc(t, body).Find(`[data-testid="rule-delete-confirm"]`).Length() != 1 ||
		!strings.Contains(doc(t, body).Find(`[data-testid="lockout-warning"]`).Text(), "127.0.0.1") {
		t.Fatalf("delete my allow = %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != 200 {
		t.Fatal("the unconfirmed delete happened")
	}
	if resp, body := b.do("DELETE", "/ip-restrictions/rules/"+allow+"?confirm=1", nil, hx); resp.StatusCode != 200 || body != "" {
		t.Fatalf("confirmed delete = %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("after the confirmed delete /agents = %d", resp.StatusCode)
	}
	// Log out stays possible while blocked.
	if resp, _ := b.do("POST", "/logout", url.Values{"_csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout while blocked = %d", resp.StatusCode)
	}
}
