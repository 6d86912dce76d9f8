package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/credentials"
)

func TestCredentialsAPI(t *testing.T) {
	st := newStack(t)
	c := st.newKey(t, "ada@example.com")
	status, _, cr := c.do("POST", "/credentials", `{"description":"laptop","acl":["bind:App.example.com","bind:*.dev.example.com"]}`, nil)
	if status != 201 {
		t.Fatalf("create = %d %v", status, cr)
	}
	token, _ := cr["token"].(string)
	if !strings.HasPrefix(token, "ewt_") || len(cr["acl"].([]any)) != 2 || cr["acl"].([]any)[0] != "bind:app.example.com" {
		t.Fatalf("created %v", cr)
	}
	id := cr["id"].(string)
	// The token authenticates an agent; it is not stored in clear.
	creds := credentials.NewService(st.srv.log, credentials.NewStore(st.srv.db), nil)
	got, err := creds.Authenticate(context.Background(), token)
	if err != nil || got.ID != id {
		t.Fatalf("Authenticate = %v %v", got.ID, err)
	}
	var clear int
	if err := st.srv.db.QueryRow(context.Background(), "select count(*) from credentials where token_prefix = $1 or position($1 in encode(token_hash,'escape')) > 0", token).Scan(&clear); err != nil || clear != 0 {
		t.Fatalf("token stored in clear (%d, %v)", clear, err)
	}
	if status, _, body := c.do("PATCH", "/credentials/"+id, `{"acl":["nope"]}`, nil); status != 400 || body["error_code"] != "ERR_EDGEWAY_VALIDATION" ||
		!strings.Contains(body["details"].(map[string]any)["fields"].(map[string]any)["acl"].(string), `must start with "bind:"`) {
		t.Fatalf("bad acl = %d %v", status, body)
	}
	if status, _, body := c.do("PATCH", "/credentials/"+id, `{"acl":[]}`, nil); status != 200 || len(body["acl"].([]any)) != 0 || body["description"] != "laptop" {
		t.Fatalf("clear acl = %d %v", status, body)
	}
	if status, _, body := c.do("GET", "/credentials", "", nil); status != 200 || len(body["credentials"].([]any)) != 1 {
		t.Fatalf("list = %d %v", status, body)
	}
	if status, _, _ := c.do("DELETE", "/credentials/"+id, "", nil); status != 204 {
		t.Fatalf("delete = %d", status)
	}
	if _, err := creds.Authenticate(context.Background(), token); err != credentials.ErrInvalidToken {
		t.Fatalf("revoked token still authenticates: %v", err)
	}
}

func TestAuthtokensPage(t *testing.T) {
	st := newStack(t)
	b := st.browser(t)
	b.signup("ada@example.com")
	tok := b.csrf("/authtokens")
	hx := map[string]string{"HX-Request": "true", "X-CSRF-Token": tok}
	resp, body := b.do("POST", "/authtokens", url.Values{"description": {"ci"}, "acl": {"bind:a.example.com\n\nnot-a-rule"}}, hx)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc(t, body).Find(`[data-testid="field-error-acl"]`).Text(), "not-a-rule") {
		t.Fatalf("invalid acl = %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.do("POST", "/authtokens", url.Values{"description": {"ci"}, "acl": {"bind:a.example.com"}}, hx)
	m := regexp.MustCompile(`data-testid="authtoken-token">(ewt_[^<]+)<`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusCreated || m == nil {
		t.Fatalf("create = %d\n%s", resp.StatusCode, body)
	}
	_, page := b.do("GET", "/authtokens", nil, nil)
	d := doc(t, page)
	if d.Find(`[data-testid="authtoken-row"]`).Length() != 1 || strings.Contains(page, m[1]) {
		t.Fatalf("authtokens page: rows=%d, token shown again=%v", d.Find(`[data-testid="authtoken-row"]`).Length(), strings.Contains(page, m[1]))
	}
	id, _ := d.Find(`[data-testid="authtoken-row"]`).Attr("data-id")
	if resp, _ := b.do("DELETE", "/authtokens/"+id, nil, hx); resp.StatusCode != 200 {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	if _, page := b.do("GET", "/authtokens", nil, nil); doc(t, page).Find(`[data-testid="authtoken-row"]`).Length() != 0 {
		t.Fatal("revoked token still listed")
	}
}
