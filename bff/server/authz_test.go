package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/alexedwards/argon2id"
	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/authz"
	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/edgeway/edgeway/bff/reservations"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/secret"
	"github.com/labstack/echo/v4"
)

// member is someone with given roles in an account, signed in to the dashboard and with an API key.
type member struct {
	userID  string
	email   string
	browser *browser
	api     apiClient
}

const memberPassword = "correct horse battery"

// addMember creates a user with roles in accountID, signs them in and gives them an API key
// (written to the database directly, so members who may not create keys still have one).
func (st *stack) addMember(t *testing.T, accountID, email string, roles ...string) member {
	t.Helper()
	ctx := context.Background()
	hash, err := argon2id.CreateHash(memberPassword, testPolicy.Argon)
	if err != nil {
		t.Fatal(err)
	}
	m := member{userID: ids.New(ids.User), email: email}
	if _, err := st.srv.db.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, $2, $3, $4)`,
		m.userID, email, "Member "+email, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := st.srv.db.Exec(ctx, `insert into memberships (account_id, user_id, roles) values ($1, $2, $3)`,
		accountID, m.userID, roles); err != nil {
		t.Fatal(err)
	}
	sec := secret.New(apikeys.TokenPrefix)
	if err := apikeys.NewStore(st.srv.db).Create(ctx, apikeys.Key{ID: ids.New(ids.APIKey), AccountID: accountID,
		OwnerID: m.userID, TokenPrefix: sec.Display}, sec.Hash); err != nil {
		t.Fatal(err)
	}
	m.api = apiClient{t: t, base: st.api.URL, key: sec.Token}
	m.browser = st.browser(t)
	m.browser.login(email, memberPassword)
	return m
}

func (b *browser) login(email, password string) {
	b.t.Helper()
	tok := b.csrf("/login")
	resp, body := b.do("POST", "/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s = %d\n%s", email, resp.StatusCode, body)
	}
}

// accountOf returns the account of the user with email.
func (st *stack) accountOf(t *testing.T, email string) string {
	t.Helper()
	var id string
	if err := st.srv.db.QueryRow(context.Background(), `select m.account_id from memberships m join users u on u.id = m.user_id
		where lower(u.email) = lower($1) order by m.created_at limit 1`, email).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (st *stack) setPlan(t *testing.T, accountID, plan string) {
	t.Helper()
	if _, err := st.srv.db.Exec(context.Background(), `update accounts set plan = $2 where id = $1`, accountID, plan); err != nil {
		t.Fatal(err)
	}
}

// TestEveryRouteHasAPermission walks both real route tables: every route must have a rule in
// permissions.go, so no route is open (or closed) by omission.
func TestEveryRouteHasAPermission(t *testing.T) {
	st := newStack(t)
	for name, tbl := range map[string]struct {
		e     *echo.Echo
		rules map[string]authz.Rule
	}{"dashboard": {st.srv.Dashboard, dashboardRules}, "api": {st.srv.API, apiRules}} {
		var missing []string
		for _, r := range tbl.e.Routes() {
			if r.Method == echo.RouteNotFound {
				continue
			}
			key := authz.RouteKey(r.Method, r.Path)
			if rule, ok := tbl.rules[key]; !ok || !rule.Valid() {
				missing = append(missing, key)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s routes without an authorization rule in permissions.go:\n  %s", name, strings.Join(missing, "\n  "))
		}
	}
}

// profiles are the role combinations the matrix test signs in as.
var profiles = map[string][]string{
	"admin":                  {auth.RoleAdmin},
	"developer read-write":   {auth.RoleDeveloperReadWrite, auth.RoleTeamReadOnly},
	"developer read-only":    {auth.RoleDeveloperReadOnly, auth.RoleTeamReadOnly},
	"team manager":           {auth.RoleDeveloperReadOnly, auth.RoleTeamManager},
	"team invite-only":       {auth.RoleDeveloperReadOnly, auth.RoleTeamInviteOnly},
	"billing access":         {auth.RoleDeveloperReadOnly, auth.RoleTeamReadOnly, auth.RoleBillingAccess},
	"read-write, no billing": {auth.RoleDeveloperReadWrite, auth.RoleTeamManager},
}

var pathParam = regexp.MustCompile(`:[a-z_]+|\*`)

// concrete turns a route pattern into a path to request: parameters become IDs nobody has.
func concrete(path string) string {
	return pathParam.ReplaceAllStringFunc(path, func(p string) string {
		if p == "*" {
			return "nothing"
		}
		return "zz_01jd3q4n5b6c7d8e9f0g1h2j3k"
	})
}

// TestRoleMatrix sends every permission-guarded route of both listeners as every role profile,
// against the real handlers and Postgres: a refused request is a 403 with the reference's code
// (a page on the dashboard, the JSON error body on the API); an allowed one is anything else.
func TestRoleMatrix(t *testing.T) {
	st := newStack(t)
	admin := st.browser(t)
	admin.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	st.setPlan(t, acct, "pro")
	enf, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, roles := range profiles {
		m := st.addMember(t, acct, strings.ReplaceAll(name, " ", "-")+"@example.com", roles...)
		tok := m.browser.csrf("/settings")
		t.Run(name, func(t *testing.T) {
			for _, r := range st.srv.Dashboard.Routes() {
				perm, ok := dashboardRules[authz.RouteKey(r.Method, r.Path)].Permission()
				if !ok {
					continue
				}
				path := concrete(r.Path)
				resp, body := m.browser.do(r.Method, path, url.Values{}, map[string]string{"X-CSRF-Token": tok})
				want := enf.Allowed(roles, perm)
				if want && resp.StatusCode == http.StatusForbidden {
					t.Errorf("dashboard %s %s (%s): 403, want allowed\n%.300s", r.Method, path, perm, body)
				}
				if !want {
					code := authz.Denied(perm).Code
					if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, code) || !strings.Contains(body, "Ask an administrator") {
						t.Errorf("dashboard %s %s (%s): %d, want 403 page with %s\n%.300s", r.Method, path, perm, resp.StatusCode, code, body)
					}
				}
			}
			for _, r := range st.srv.API.Routes() {
				perm, ok := apiRules[authz.RouteKey(r.Method, r.Path)].Permission()
				if !ok {
					continue
				}
				path := concrete(r.Path)
				status, _, body := m.api.do(r.Method, path, "", nil)
				want := enf.Allowed(roles, perm)
				if want && status == http.StatusForbidden {
					t.Errorf("api %s %s (%s): 403, want allowed: %v", r.Method, path, perm, body)
				}
				if !want && (status != http.StatusForbidden || body["error_code"] != authz.Denied(perm).Code) {
					t.Errorf("api %s %s (%s): %d %v, want 403 %s", r.Method, path, perm, status, body, authz.Denied(perm).Code)
				}
			}
		})
	}
}

// TestRoleChangeAppliesOnNextRequest: no cache stands between Postgres and the check.
func TestRoleChangeAppliesOnNextRequest(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	m := st.addMember(t, acct, "dev@example.com", auth.RoleDeveloperReadOnly, auth.RoleTeamReadOnly)
	if status, _, body := m.api.do("POST", "/credentials", "", nil); status != 403 || body["error_code"] != "ERR_EDGEWAY_1219" {
		t.Fatalf("read-only create credential = %d %v", status, body)
	}
	if resp, _ := m.browser.do("GET", "/billing", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("billing as read-only = %d", resp.StatusCode)
	}
	if _, err := st.srv.db.Exec(context.Background(), `update memberships set roles = $2 where user_id = $1`,
		m.userID, []string{auth.RoleDeveloperReadWrite, auth.RoleTeamReadOnly, auth.RoleBillingAccess}); err != nil {
		t.Fatal(err)
	}
	if status, _, body := m.api.do("POST", "/credentials", "", nil); status != 201 {
		t.Fatalf("after promotion create credential = %d %v", status, body)
	}
	if resp, _ := m.browser.do("GET", "/billing", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("billing after promotion = %d", resp.StatusCode)
	}
}

// TestForbiddenActionsAreHidden: a read-only developer sees the Authtokens and API keys pages
// without create forms or Revoke/Delete buttons, and no Team or Billing in the navigation.
func TestForbiddenActionsAreHidden(t *testing.T) {
	st := newStack(t)
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	tok := owner.csrf("/authtokens")
	if resp, _ := owner.do("POST", "/authtokens", url.Values{"description": {"ci"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}); resp.StatusCode != 201 {
		t.Fatalf("create authtoken = %d", resp.StatusCode)
	}
	m := st.addMember(t, acct, "ro@example.com", auth.RoleDeveloperReadOnly, auth.RoleTeamReadOnly)
	_, page := m.browser.do("GET", "/authtokens", nil, nil)
	d := doc(t, page)
	if d.Find(`[data-testid="authtoken-row"]`).Length() != 1 {
		t.Fatalf("read-only developer does not see the authtoken:\n%s", page)
	}
	for _, id := range []string{"authtoken-revoke", "authtoken-form", "nav-billing"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() != 0 {
			t.Errorf("read-only developer sees %s", id)
		}
	}
	for _, id := range []string{"nav-agents", "nav-authtokens", "nav-team"} {
		if d.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("read-only developer misses %s", id)
		}
	}
	_, page = m.browser.do("GET", "/api-keys", nil, nil)
	if d := doc(t, page); d.Find(`[data-testid="api-key-form"]`).Length() != 0 || d.Find(`[data-testid="api-key-delete"]`).Length() != 0 {
		t.Error("read-only developer sees the API key form or Delete buttons")
	}
	// The owner sees everything.
	_, page = owner.do("GET", "/authtokens", nil, nil)
	if d := doc(t, page); d.Find(`[data-testid="authtoken-revoke"]`).Length() != 1 || d.Find(`[data-testid="nav-billing"]`).Length() != 1 {
		t.Error("administrator misses Revoke or Billing")
	}
	if !slices.Contains(profiles["admin"], auth.RoleAdmin) {
		t.Fatal("profiles changed")
	}
}

func TestRedactURI(t *testing.T) {
	for in, want := range map[string]string{
		"/invitations/ewi_secret":        "/invitations/REDACTED",
		"/invitations/ewi_secret?x=1":    "/invitations/REDACTED?x=1",
		"/ip-recovery/tok/confirm":       "/ip-recovery/REDACTED/confirm",
		"/team/invitations/inv_1/resend": "/team/invitations/inv_1/resend",
		"/agents":                        "/agents",
	} {
		if got := redactURI(in); got != want {
			t.Errorf("redactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteControlsHiddenOnEndpointsAndIPRestrictions: with reservations, a policy with a rule
// and a restriction in the account, a read-only developer sees them on the Endpoints and IP
// restrictions pages without any create form or Delete button; a read-write developer may change
// policies but not restrictions (administrators only); the administrator sees every control.
func TestWriteControlsHiddenOnEndpointsAndIPRestrictions(t *testing.T) {
	st := newStack(t, withEdges(t))
	owner := st.browser(t)
	owner.signup("owner@example.com")
	acct := st.accountOf(t, "owner@example.com")
	ctx := context.Background()
	var ownerID string
	if err := st.srv.db.QueryRow(ctx, `select id from users where email = 'owner@example.com'`).Scan(&ownerID); err != nil {
		t.Fatal(err)
	}
	p := web.Principal{AccountID: acct, UserID: ownerID, Email: "owner@example.com", Source: web.SourceDashboard}
	domain := "app.example.com"
	if _, err := st.srv.Reservations.CreateDomain(ctx, p, reservations.DomainInput{Domain: &domain}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.srv.Reservations.CreateAddr(ctx, p, reservations.AddrInput{}); err != nil {
		t.Fatal(err)
	}
	desc, cidr, action, typ, enforced := "office", "192.0.2.0/24", "allow", ippolicy.TypeEndpoints, false
	pol, err := st.srv.IPPolicies.CreatePolicy(ctx, p, ippolicy.PolicyInput{Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.srv.IPPolicies.CreateRule(ctx, p, ippolicy.SelfCheck{}, ippolicy.RuleInput{PolicyID: pol.ID, CIDR: &cidr, Action: &action}); err != nil {
		t.Fatal(err)
	}
	// A second, unused policy: only unused policies offer Delete.
	if _, err := st.srv.IPPolicies.CreatePolicy(ctx, p, ippolicy.PolicyInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.srv.IPPolicies.CreateRestriction(ctx, p, ippolicy.SelfCheck{}, ippolicy.RestrictionInput{Type: &typ, Enforced: &enforced,
		PolicyIDs: []string{pol.ID}}); err != nil {
		t.Fatal(err)
	}

	endpointsControls := []string{"domain-form", "domain-create", "domain-delete", "addr-form", "addr-create", "addr-delete"}
	policyControls := []string{"policy-form", "policy-create", "policy-delete", "rule-form", "rule-delete"}
	restrictionControls := []string{"restriction-form", "restriction-save", "restriction-delete"}
	count := func(d *goquery.Document, testid string) int { return d.Find(`[data-testid="` + testid + `"]`).Length() }
	check := func(t *testing.T, who string, b *browser, shown, hidden []string) {
		t.Helper()
		resp, page := b.do("GET", "/endpoints", nil, nil)
		e := doc(t, page)
		if resp.StatusCode != http.StatusOK || count(e, "domain-row") != 1 || count(e, "addr-row") != 1 {
			t.Fatalf("%s: endpoints page = %d without the reservations:\n%s", who, resp.StatusCode, page)
		}
		resp, page = b.do("GET", "/ip-restrictions", nil, nil)
		ip := doc(t, page)
		if resp.StatusCode != http.StatusOK || count(ip, "policy") != 2 || count(ip, "rule-row") != 1 || count(ip, "restriction-id") != 1 {
			t.Fatalf("%s: IP restrictions page = %d without the policies, rule or restriction:\n%s", who, resp.StatusCode, page)
		}
		n := func(testid string) int { return count(e, testid) + count(ip, testid) }
		for _, id := range shown {
			if n(id) == 0 {
				t.Errorf("%s misses %s", who, id)
			}
		}
		for _, id := range hidden {
			if n(id) != 0 {
				t.Errorf("%s sees %s", who, id)
			}
		}
	}

	ro := st.addMember(t, acct, "ro@example.com", auth.RoleDeveloperReadOnly, auth.RoleTeamReadOnly)
	check(t, "read-only developer", ro.browser, nil, slices.Concat(endpointsControls, policyControls, restrictionControls))
	rw := st.addMember(t, acct, "rw@example.com", auth.RoleDeveloperReadWrite, auth.RoleTeamReadOnly)
	check(t, "read-write developer", rw.browser, slices.Concat(endpointsControls, policyControls), restrictionControls)
	check(t, "administrator", owner, slices.Concat(endpointsControls, policyControls, restrictionControls), nil)

	// Hidden is a courtesy: the server refuses the read-only developer anyway.
	tok := ro.browser.csrf("/endpoints")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}
	for _, req := range [][2]string{{"POST", "/endpoints/domains"}, {"POST", "/endpoints/addrs"}, {"POST", "/ip-restrictions/policies"},
		{"DELETE", "/ip-restrictions/policies/" + pol.ID}} {
		if resp, _ := ro.browser.do(req[0], req[1], url.Values{"domain": {"x.example.com"}, "description": {"x"}}, hx); resp.StatusCode != http.StatusForbidden {
			t.Errorf("read-only developer %s %s = %d, want 403", req[0], req[1], resp.StatusCode)
		}
	}
}
