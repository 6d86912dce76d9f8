package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/alexedwards/argon2id"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type stack struct {
	srv       *Server
	dashboard *httptest.Server
	api       *httptest.Server
}

var testPolicy = auth.Policy{SessionTTL: time.Hour, ThrottleWindow: time.Minute, MaxFailsByIP: 50, MaxFailsByEmail: 3,
	Argon: &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}}

func newStack(t *testing.T, mutate ...func(*Config)) *stack {
	t.Helper()
	db := pgtest.New(t)
	st := &stack{}
	st.dashboard = httptest.NewUnstartedServer(nil)
	st.api = httptest.NewUnstartedServer(nil)
	cfg := Config{PublicURL: "http://" + st.dashboard.Listener.Addr().String(), APIURL: "http://" + st.api.Listener.Addr().String(),
		AuthPolicy: testPolicy, BodyLimit: 64 << 10}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), db)
	if err != nil {
		t.Fatal(err)
	}
	st.srv = srv
	st.dashboard.Config.Handler = srv.Dashboard
	st.api.Config.Handler = srv.API
	st.dashboard.Start()
	st.api.Start()
	t.Cleanup(st.dashboard.Close)
	t.Cleanup(st.api.Close)
	return st
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (st *stack) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: st.dashboard.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, headers map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf loads a page and returns the token of its forms.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.do("GET", path, nil, nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

func (b *browser) signup(email string) {
	b.t.Helper()
	tok := b.csrf("/signup")
	resp, body := b.do("POST", "/signup", url.Values{"_csrf": {tok}, "account_name": {"Acme"}, "name": {"Ada Lovelace"},
		"email": {email}, "password": {"correct horse battery"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/agents" {
		b.t.Fatalf("signup: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSecurityHeadersAndHealth(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	resp, _ := b.do("GET", "/login", nil, nil)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("CSP = %q, want script-src 'self' and nothing inline", csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := b.do("GET", path, nil, nil); resp.StatusCode != 200 {
			t.Errorf("%s = %d %s", path, resp.StatusCode, body)
		}
	}
	_, metrics := b.do("GET", "/metrics", nil, nil)
	if !strings.Contains(metrics, `edgeway_http_requests_total{listener="dashboard",method="GET",route="/login",status="200"} 1`) {
		t.Errorf("metrics do not count the /login request:\n%.2000s", metrics)
	}
	// Static assets are embedded and served, htmx 2 among them.
	for _, path := range []string{"/static/css/app.css", "/static/vendor/htmx.min.js", "/static/vendor/htmx-ext-ws.min.js", "/static/img/logo.svg"} {
		if resp, _ := b.do("GET", path, nil, nil); resp.StatusCode != 200 {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
}

func TestReadyzFailsWithoutDatabase(t *testing.T) {
	st := newStack(t)
	st.srv.db.Close()
	resp, body := st.browser(t).do("GET", "/readyz", nil, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "ERR_EDGEWAY_UNAVAILABLE") {
		t.Fatalf("readyz with a closed pool = %d %s", resp.StatusCode, body)
	}
}

func TestSignupLoginLogout(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("signed-out /agents = %d %s, want a redirect to login", resp.StatusCode, resp.Header.Get("Location"))
	}
	b.signup("ada@example.com")
	_, body := b.do("GET", "/agents", nil, nil)
	d := doc(t, body)
	for id, want := range map[string]string{"user-email": "ada@example.com", "user-name": "Ada Lovelace", "account-name": "Acme", "page-title": "Agents"} {
		if got := strings.TrimSpace(d.Find(`[data-testid="` + id + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	// Every section of the navigation renders for a signed-in user.
	for _, s := range frontend.Sections {
		resp, body := b.do("GET", s.Path, nil, nil)
		if resp.StatusCode != 200 || doc(t, body).Find(`[data-testid="page-title"]`).Text() != s.Label {
			t.Errorf("%s = %d, title %q", s.Path, resp.StatusCode, doc(t, body).Find(`[data-testid="page-title"]`).Text())
		}
	}
	tok := b.csrf("/agents")
	if resp, _ := b.do("POST", "/logout", url.Values{"_csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout /agents = %d, want redirect", resp.StatusCode)
	}
	// Wrong password: the form again, with the error, 401.
	tok = b.csrf("/login")
	resp, body := b.do("POST", "/login", url.Values{"_csrf": {tok}, "email": {"ada@example.com"}, "password": {"nope"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(doc(t, body).Find(`[data-testid="form-error"]`).Text(), "not correct") {
		t.Fatalf("wrong password = %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/login", url.Values{"_csrf": {tok}, "email": {"ada@example.com"}, "password": {"correct horse battery"}, "next": {"/team"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/team" {
		t.Fatalf("login = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionRotatesOnLogin(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	u, _ := url.Parse(st.dashboard.URL)
	before := b.c.Jar.Cookies(u)
	tok := b.csrf("/agents")
	b.do("POST", "/login", url.Values{"_csrf": {tok}, "email": {"ada@example.com"}, "password": {"correct horse battery"}}, nil)
	var old, fresh string
	for _, c := range before {
		if c.Name == auth.CookieName {
			old = c.Value
		}
	}
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == auth.CookieName {
			fresh = c.Value
		}
	}
	if old == "" || fresh == "" || old == fresh {
		t.Fatalf("session cookie not rotated: %q -> %q", old, fresh)
	}
	// The old token no longer works.
	attacker := st.browser(t)
	attacker.c.Jar.SetCookies(u, []*http.Cookie{{Name: auth.CookieName, Value: old}})
	if resp, _ := attacker.do("GET", "/agents", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session still valid: %d", resp.StatusCode)
	}
}

func TestCookieFlags(t *testing.T) {
	st := newStack(t, func(c *Config) { c.CookieSecure = true })
	b := st.browser(t)
	tok := b.csrf("/signup")
	resp, _ := b.do("POST", "/signup", url.Values{"_csrf": {tok}, "account_name": {"Acme"}, "name": {"Ada"},
		"email": {"ada@example.com"}, "password": {"correct horse battery"}}, nil)
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			found = true
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("session cookie flags: HttpOnly=%v Secure=%v SameSite=%v", c.HttpOnly, c.Secure, c.SameSite)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie set")
	}
}

func TestCSRFRefusesStateChangesWithoutToken(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	tests := []struct {
		name    string
		method  string
		path    string
		form    url.Values
		headers map[string]string
	}{
		{"logout without token", "POST", "/logout", url.Values{}, nil},
		{"signup without token", "POST", "/signup", url.Values{"email": {"x@example.com"}}, nil},
		{"login with wrong token", "POST", "/login", url.Values{"_csrf": {"forged"}}, nil},
		{"htmx delete without header", "DELETE", "/api-keys/ak_01jd0000000000000000000000", nil, map[string]string{"HX-Request": "true"}},
		{"cross-site form post", "POST", "/api-keys", url.Values{"description": {"x"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := b.do(tt.method, tt.path, tt.form, tt.headers)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "ERR_EDGEWAY_CSRF") {
				t.Fatalf("%s %s = %d, want 403 ERR_EDGEWAY_CSRF\n%.500s", tt.method, tt.path, resp.StatusCode, body)
			}
		})
	}
	// Still signed in: the forged logout did nothing.
	if resp, _ := b.do("GET", "/agents", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("forged logout ended the session: %d", resp.StatusCode)
	}
}

func TestSignupErrorsRenderInForm(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	other := st.browser(t)
	tok := other.csrf("/signup")
	resp, body := other.do("POST", "/signup", url.Values{"_csrf": {tok}, "account_name": {"Acme"}, "name": {"Ada"},
		"email": {"ADA@example.com"}, "password": {"correct horse battery"}}, nil)
	d := doc(t, body)
	if resp.StatusCode != http.StatusConflict || d.Find(`[data-testid="field-error-email"]`).Length() != 1 {
		t.Fatalf("duplicate email = %d, field error %q", resp.StatusCode, d.Find(`[data-testid="field-error-email"]`).Text())
	}
	if v, _ := d.Find(`[data-testid="signup-email"]`).Attr("value"); v != "ADA@example.com" {
		t.Errorf("email not kept in the form: %q", v)
	}
	resp, body = other.do("POST", "/signup", url.Values{"_csrf": {tok}, "email": {"bad"}, "password": {"short"}}, nil)
	d = doc(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid signup = %d", resp.StatusCode)
	}
	for _, f := range []string{"account_name", "name", "email", "password"} {
		if d.Find(`[data-testid="field-error-`+f+`"]`).Length() != 1 {
			t.Errorf("no field error for %s", f)
		}
	}
}

func TestErrorHandlerRendersByClient(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	resp, body := b.do("GET", "/no-such-page", nil, nil)
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || doc(t, body).Find(`html`).Length() != 1 ||
		doc(t, body).Find(`[data-testid="error-code"]`).Text() != "ERR_EDGEWAY_NOT_FOUND" {
		t.Fatalf("HTML 404: %d %s\n%.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = b.do("GET", "/no-such-page", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != 404 || strings.Contains(body, "<html") || !strings.Contains(body, `hx-swap-oob="true"`) {
		t.Fatalf("htmx 404 should be a fragment: %d\n%.300s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/no-such-page", nil, map[string]string{"Accept": "application/json"})
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.ErrorCode != "ERR_EDGEWAY_NOT_FOUND" || e.StatusCode != 404 || e.Msg == "" {
		t.Fatalf("JSON 404: %d %s", resp.StatusCode, body)
	}
}

func TestOversizedBodyRefused(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	tok := b.csrf("/signup")
	resp, body := b.do("POST", "/signup", url.Values{"_csrf": {tok}, "name": {strings.Repeat("x", 100<<10)}}, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "ERR_EDGEWAY_BODY_TOO_LARGE") {
		t.Fatalf("oversized body = %d %s", resp.StatusCode, body)
	}
}

func TestClientIPIgnoresUntrustedForwardedFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		wantIP  string
	}{
		{"untrusted peer", nil, "127.0.0.1"},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStack(t, func(c *Config) { c.TrustedProxies = tc.trusted })
			b := st.browser(t)
			tok := b.csrf("/login")
			b.do("POST", "/login", url.Values{"_csrf": {tok}, "email": {"a@example.com"}, "password": {"x"}},
				map[string]string{"X-Forwarded-For": "203.0.113.9"})
			var ip string
			if err := st.srv.db.QueryRow(t.Context(), "select ip from login_failures").Scan(&ip); err != nil {
				t.Fatal(err)
			}
			if ip != tc.wantIP {
				t.Fatalf("recorded client IP %q, want %q", ip, tc.wantIP)
			}
		})
	}
}

func ExampleContentSecurityPolicy() {
	fmt.Println(strings.Contains(ContentSecurityPolicy, "'unsafe-inline'"))
	// Output: false
}
