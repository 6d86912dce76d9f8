package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/secret"
)

// keyFor gives a user of an account an API key, written to the database directly.
func (st *stack) keyFor(t *testing.T, accountID, userID string) apiClient {
	t.Helper()
	sec := secret.New(apikeys.TokenPrefix)
	if err := apikeys.NewStore(st.srv.db).Create(context.Background(), apikeys.Key{ID: ids.New(ids.APIKey), AccountID: accountID,
		OwnerID: userID, TokenPrefix: sec.Display}, sec.Hash); err != nil {
		t.Fatal(err)
	}
	return apiClient{t: t, base: st.api.URL, key: sec.Token}
}

func (st *stack) userID(t *testing.T, email string) string {
	t.Helper()
	var id string
	if err := st.srv.db.QueryRow(context.Background(), `select id from users where lower(email) = lower($1)`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

var inviteLink = regexp.MustCompile(`/invitations/(ewi_[A-Za-z0-9_-]+)`)

// lastInvitationToken reads the newest invitation email to addr from the outbox.
func (st *stack) lastInvitationToken(t *testing.T, addr string) string {
	t.Helper()
	var body string
	if err := st.srv.db.QueryRow(context.Background(), `select body_text from mail_outbox where to_addr = $1 order by id desc limit 1`, addr).Scan(&body); err != nil {
		t.Fatalf("no mail to %s: %v", addr, err)
	}
	m := inviteLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no invitation link in:\n%s", body)
	}
	return m[1]
}

func (st *stack) auditTypes(t *testing.T, accountID string) map[string]audit.Event {
	t.Helper()
	evs, err := audit.List(context.Background(), st.srv.db, accountID, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]audit.Event{}
	for _, e := range evs {
		if _, seen := out[e.Type]; !seen {
			out[e.Type] = e
		}
	}
	return out
}

func TestPlansAccountAndBilling(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	key := st.keyFor(t, acct, st.userID(t, "owner@example.com"))
	status, _, body := key.do("GET", "/account", "", nil)
	if status != 200 || body["id"] != acct || body["plan"] != "free" || body["paid"] != false {
		t.Fatalf("GET /account = %d %v", status, body)
	}
	limits, usage := body["limits"].(map[string]any), body["usage"].(map[string]any)
	for _, l := range []string{"users", "agent_sessions", "reserved_domains", "reserved_addrs", "ip_policies", "ip_restrictions", "event_subscriptions"} {
		if _, ok := limits[l].(float64); !ok {
			t.Errorf("limits.%s missing: %v", l, limits)
		}
		if _, ok := usage[l].(float64); !ok {
			t.Errorf("usage.%s missing: %v", l, usage)
		}
	}
	if usage["users"] != float64(1) || limits["users"] != float64(1) {
		t.Errorf("users usage %v of %v, want 1 of 1", usage["users"], limits["users"])
	}
	// The Billing page shows the same; changing the plan applies at once.
	_, page := owner.do("GET", "/billing", nil, nil)
	d := doc(t, page)
	if got := d.Find(`[data-testid="billing-plan"]`).Text(); got != "Free" {
		t.Fatalf("billing plan = %q", got)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="limit-users"] [data-testid="limit-max"]`).Text()); got != "1" {
		t.Fatalf("users limit shown = %q", got)
	}
	tok := owner.csrf("/billing")
	if resp, body := owner.do("POST", "/billing/plan", url.Values{"_csrf": {tok}, "plan": {"gold"}}, nil); resp.StatusCode != 422 || !strings.Contains(body, "must be one of") {
		t.Fatalf("unknown plan = %d", resp.StatusCode)
	}
	if resp, _ := owner.do("POST", "/billing/plan", url.Values{"_csrf": {tok}, "plan": {"pro"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change plan = %d", resp.StatusCode)
	}
	if _, _, body := key.do("GET", "/account", "", nil); body["plan"] != "pro" || body["limits"].(map[string]any)["users"] != float64(10) {
		t.Fatalf("after upgrade: %v", body)
	}
	if _, ok := st.auditTypes(t, acct)[audit.AccountPlanUpdated]; !ok {
		t.Error("no account_plan_updated.v0 event")
	}
	// Downgrading below what is used is refused, naming the limit.
	st.addMember(t, acct, "second@example.com", "developer_read_only")
	if resp, body := owner.do("POST", "/billing/plan", url.Values{"_csrf": {tok}, "plan": {"free"}}, nil); resp.StatusCode != 422 || !strings.Contains(body, "team members (2, the plan allows 1)") {
		t.Fatalf("downgrade over the limit = %d\n%s", resp.StatusCode, body)
	}
}

func TestTeamOnFreePlanShowsUpgrade(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	_, page := owner.do("GET", "/team", nil, nil)
	d := doc(t, page)
	if d.Find(`[data-testid="team-upgrade"]`).Length() != 1 || d.Find(`[data-testid="invite-form"]`).Length() != 0 {
		t.Fatalf("free Team page:\n%s", page)
	}
	if d.Find(`[data-testid="member-row"]`).Length() != 1 {
		t.Error("the owner is not listed")
	}
	tok := owner.csrf("/team")
	resp, body := owner.do("POST", "/team/invitations", url.Values{"_csrf": {tok}, "email": {"dev@example.com"}}, nil)
	if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(body, "needs a paid plan") {
		t.Fatalf("invite on free = %d\n%s", resp.StatusCode, body)
	}
}

func TestInviteAcceptPromoteDisableDelete(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	st.setPlan(t, acct, "pro")
	tok := owner.csrf("/team")
	form := func(kv ...string) url.Values {
		v := url.Values{"_csrf": {tok}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	// Invite a read-only developer with no team access.
	if resp, body := owner.do("POST", "/team/invitations", form("email", "dev@example.com", "developer", "read_only", "team", "none"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite = %d\n%s", resp.StatusCode, body)
	}
	if resp, body := owner.do("POST", "/team/invitations", form("email", "DEV@example.com"), nil); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already has a pending invitation") {
		t.Fatalf("second invite = %d", resp.StatusCode)
	}
	if resp, body := owner.do("POST", "/team/invitations", form("email", "not-an-email"), nil); resp.StatusCode != 422 || doc(t, body).Find(`[data-testid="field-error-email"]`).Length() != 1 {
		t.Fatalf("bad email = %d", resp.StatusCode)
	}
	_, page := owner.do("GET", "/team", nil, nil)
	if doc(t, page).Find(`[data-testid="invitation-row"][data-email="dev@example.com"]`).Length() != 1 {
		t.Fatal("pending invitation not listed")
	}
	// Resending replaces the link: the first one stops working.
	first := st.lastInvitationToken(t, "dev@example.com")
	invID := doc(t, page).Find(`[data-testid="invitation-row"]`).AttrOr("id", "")[len("inv-"):]
	if resp, _ := owner.do("POST", "/team/invitations/"+invID+"/resend", form(), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend = %d", resp.StatusCode)
	}
	token := st.lastInvitationToken(t, "dev@example.com")
	if token == first {
		t.Fatal("resend kept the token")
	}
	dev := st.browser(t)
	if resp, _ := dev.do("GET", "/invitations/"+first, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("old link = %d, want 410", resp.StatusCode)
	}
	resp, page := dev.do("GET", "/invitations/"+token, nil, nil)
	if resp.StatusCode != 200 || doc(t, page).Find(`[data-testid="accept-name"]`).Length() != 1 {
		t.Fatalf("accept page = %d\n%s", resp.StatusCode, page)
	}
	atok := csrfField.FindStringSubmatch(page)[1]
	if resp, body := dev.do("POST", "/invitations/"+token, url.Values{"_csrf": {atok}, "name": {"Dev"}, "password": {"short"}}, nil); resp.StatusCode != 422 || !strings.Contains(body, "at least 10") {
		t.Fatalf("short password = %d", resp.StatusCode)
	}
	if resp, body := dev.do("POST", "/invitations/"+token, url.Values{"_csrf": {atok}, "name": {"Dev"}, "password": {"another good password"}}, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/agents" {
		t.Fatalf("accept = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, _ := st.browser(t).do("GET", "/invitations/"+token, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("used link = %d, want 410", resp.StatusCode)
	}
	// The read-only developer: Agents yes; Team and Billing no, with the reference's codes.
	if resp, _ := dev.do("GET", "/agents", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("dev /agents = %d", resp.StatusCode)
	}
	if resp, body := dev.do("GET", "/billing", nil, nil); resp.StatusCode != 403 || !strings.Contains(body, "ERR_EDGEWAY_1217") {
		t.Fatalf("dev /billing = %d", resp.StatusCode)
	}
	if resp, _ := dev.do("GET", "/team", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("dev /team = %d", resp.StatusCode)
	}
	devID := st.userID(t, "dev@example.com")

	// Promote to read-write developer and team manager: the next request sees it.
	if resp, body := owner.do("POST", "/team/members/"+devID+"/roles", form("developer", "read_write", "team", "manager"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("promote = %d\n%s", resp.StatusCode, body)
	}
	resp, page = dev.do("GET", "/team", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("dev /team after promotion = %d", resp.StatusCode)
	}
	ownerID := st.userID(t, "owner@example.com")
	// A team manager cannot touch an administrator, nor make or invite one.
	if doc(t, page).Find(`#member-`+ownerID+` [data-testid="member-delete"]`).Length() != 0 {
		t.Error("team manager sees Delete on the administrator")
	}
	dtok := csrfField.FindStringSubmatch(page)[1]
	for _, tc := range []struct{ path, method, code string }{
		{"/team/members/" + ownerID + "/disable", "POST", "ERR_EDGEWAY_1216"},
		{"/team/members/" + ownerID, "DELETE", "ERR_EDGEWAY_1216"},
		{"/team/members/" + devID + "/roles", "POST", "ERR_EDGEWAY_1216"},
		{"/team/invitations", "POST", "ERR_EDGEWAY_1215"},
	} {
		v := url.Values{"_csrf": {dtok}, "admin": {"on"}, "email": {"boss@example.com"}}
		if resp, body := dev.do(tc.method, tc.path, v, map[string]string{"X-CSRF-Token": dtok}); resp.StatusCode != 403 || !strings.Contains(body, tc.code) {
			t.Errorf("team manager %s %s = %d, want 403 %s", tc.method, tc.path, resp.StatusCode, tc.code)
		}
	}
	// The only administrator cannot be demoted.
	if resp, body := owner.do("POST", "/team/members/"+ownerID+"/roles", form("developer", "read_write"), nil); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "only administrator") {
		t.Fatalf("demote the last admin = %d", resp.StatusCode)
	}

	// Disable: the session ends and sign-in is refused; enable restores it.
	devKey := st.keyFor(t, acct, devID)
	if resp, _ := owner.do("POST", "/team/members/"+devID+"/disable", form(), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable = %d", resp.StatusCode)
	}
	if resp, _ := dev.do("GET", "/agents", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disabled member still signed in: %d", resp.StatusCode)
	}
	if status, _, _ := devKey.do("GET", "/credentials", "", nil); status != 401 {
		t.Fatalf("disabled member's API key = %d", status)
	}
	if resp, _ := owner.do("POST", "/team/members/"+devID+"/enable", form(), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable = %d", resp.StatusCode)
	}
	dev = st.browser(t)
	dev.login("dev@example.com", "another good password")

	// The developer makes an authtoken; deleting them revokes it and their API keys.
	if status, _, body := devKey.do("POST", "/credentials", `{"description":"dev laptop"}`, nil); status != 201 {
		t.Fatalf("dev creates credential = %d %v", status, body)
	}
	if resp, _ := owner.do("DELETE", "/team/members/"+devID, nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}); resp.StatusCode != http.StatusNoContent || resp.Header.Get("HX-Redirect") != "/team" {
		t.Fatalf("delete = %d", resp.StatusCode)
	}
	var creds, keys, users int
	if err := st.srv.db.QueryRow(context.Background(), `select (select count(*) from credentials where owner_id = $1),
		(select count(*) from api_keys where owner_id = $1), (select count(*) from users where id = $1)`, devID).Scan(&creds, &keys, &users); err != nil {
		t.Fatal(err)
	}
	if creds+keys+users != 0 {
		t.Fatalf("after delete: credentials=%d api_keys=%d users=%d", creds, keys, users)
	}
	if status, _, _ := devKey.do("GET", "/credentials", "", nil); status != 401 {
		t.Fatalf("deleted member's API key = %d", status)
	}

	// Every change left an audit event with its principal.
	evs := st.auditTypes(t, acct)
	for _, typ := range []string{audit.InvitationCreated, audit.InvitationResent, audit.MembershipCreated, audit.MembershipUpdated,
		audit.MembershipDisabled, audit.MembershipEnabled, audit.MembershipDeleted, audit.TunnelCredentialCreated} {
		e, ok := evs[typ]
		if !ok {
			t.Errorf("no %s event", typ)
			continue
		}
		wantSource := "Dashboard"
		if typ == audit.TunnelCredentialCreated {
			wantSource = "API"
		}
		if e.Principal.Source != wantSource || e.Principal.ID == "" || e.Principal.Subject == "" {
			t.Errorf("%s principal = %+v", typ, e.Principal)
		}
	}
	if p := evs[audit.MembershipDeleted].Principal; p.ID != ownerID || p.Subject != "owner@example.com" {
		t.Errorf("membership_deleted principal = %+v", p)
	}
	if p := evs[audit.TunnelCredentialCreated].Principal; p.Credential == nil || !strings.HasPrefix(p.Credential.ID, "ak_") {
		t.Errorf("API principal without its key: %+v", p)
	}
}

func TestInviteUpToTheUserLimit(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	st.setPlan(t, acct, "pro")
	tok := owner.csrf("/team")
	for i := 2; i <= 10; i++ {
		email := "m" + string(rune('a'+i)) + "@example.com"
		if resp, body := owner.do("POST", "/team/invitations", url.Values{"_csrf": {tok}, "email": {email}}, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("invite %d = %d\n%s", i, resp.StatusCode, body)
		}
	}
	resp, body := owner.do("POST", "/team/invitations", url.Values{"_csrf": {tok}, "email": {"eleventh@example.com"}}, nil)
	if resp.StatusCode != http.StatusPaymentRequired || !strings.Contains(body, "Plan limit reached: the Pro plan allows 10 team members") {
		t.Fatalf("11th user = %d\n%s", resp.StatusCode, body)
	}
}

func TestExistingUserAcceptsWithTheirPassword(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	st.setPlan(t, acct, "pro")
	other := st.browser(t)
	other.signup("ada@example.com") // has her own account
	tok := owner.csrf("/team")
	if resp, _ := owner.do("POST", "/team/invitations", url.Values{"_csrf": {tok}, "email": {"ada@example.com"}, "team": {"read_only"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite = %d", resp.StatusCode)
	}
	token := st.lastInvitationToken(t, "ada@example.com")
	_, page := other.do("GET", "/invitations/"+token, nil, nil)
	if doc(t, page).Find(`[data-testid="accept-name"]`).Length() != 0 {
		t.Fatal("existing user asked for a name")
	}
	atok := csrfField.FindStringSubmatch(page)[1]
	if resp, _ := other.do("POST", "/invitations/"+token, url.Values{"_csrf": {atok}, "password": {"wrong password!"}}, nil); resp.StatusCode != 422 {
		t.Fatalf("wrong password = %d", resp.StatusCode)
	}
	if resp, _ := other.do("POST", "/invitations/"+token, url.Values{"_csrf": {atok}, "password": {"correct horse battery"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept = %d", resp.StatusCode)
	}
	_, page = other.do("GET", "/team", nil, nil)
	if got := doc(t, page).Find(`[data-testid="member-row"]`).Length(); got != 2 {
		t.Fatalf("Team page of the joined account lists %d members", got)
	}
}

func TestAPIKeyAuditEvents(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	acct := st.accountOf(t, "ada@example.com")
	status, _, k := c.do("POST", "/api_keys", `{"description":"ci"}`, nil)
	if status != 201 {
		t.Fatalf("create = %d", status)
	}
	id := k["id"].(string)
	c.do("PATCH", "/api_keys/"+id, `{"description":"ci 2"}`, nil)
	c.do("DELETE", "/api_keys/"+id, "", nil)
	evs, err := audit.List(context.Background(), st.srv.db, acct, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Principal.Source == "API" && string(e.Object) != "" && strings.Contains(string(e.Object), id) {
			got = append(got, e.Type)
		}
		if strings.Contains(string(e.Object), "ewk_") {
			t.Errorf("%s records a secret: %s", e.Type, e.Object)
		}
	}
	if strings.Join(got, ",") != "api_key_deleted.v0,api_key_updated.v0,api_key_created.v0" {
		t.Fatalf("events through the API = %v", got)
	}
	// The key created on the dashboard has its event too, with the Dashboard as source.
	if e := evs[len(evs)-1]; e.Type != audit.APIKeyCreated || e.Principal.Source != "Dashboard" || e.Principal.Subject != "ada@example.com" {
		t.Fatalf("first event = %+v", e)
	}
}
