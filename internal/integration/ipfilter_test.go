package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIPRestrictionsAtTheEdges: with the real bff, edges and agents, an endpoint restriction made
// through the API refuses visitors at the edge within a second (403, ERR_EDGEWAY_IP_BLOCKED), an
// agent restriction disconnects the live agent it denies and refuses new ones (115).
func TestIPRestrictionsAtTheEdges(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	ag := startAgent(t, token, "http", localServer(t, "hello"), "--region", "us")
	ag.waitFor(sessionRe, 0)
	public := ag.waitFor(httpURLRe, 0)
	if status, _ := through(t, public); status != 200 {
		t.Fatalf("before any restriction: %d", status)
	}

	var pol struct{ ID string }
	if s := acct.api("POST", "/ip_policies", `{"description":"no loopback"}`, &pol); s != 201 {
		t.Fatalf("create policy: %d", s)
	}
	if s := acct.api("POST", "/ip_policy_rules", fmt.Sprintf(`{"ip_policy_id":%q,"cidr":"127.0.0.1/32","action":"deny"}`, pol.ID), nil); s != 201 {
		t.Fatalf("create rule: %d", s)
	}
	var er struct{ ID string }
	if s := acct.api("POST", "/ip_restrictions", fmt.Sprintf(`{"type":"endpoints","enforced":true,"ip_policy_ids":[%q]}`, pol.ID), &er); s != 201 {
		t.Fatalf("create endpoint restriction: %d", s)
	}
	start := time.Now()
	for {
		status, body := through(t, public)
		if status == 403 {
			if !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "ERR_EDGEWAY_IP_BLOCKED") {
				t.Fatalf("blocked page: %q", body)
			}
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("endpoint restriction not in force at the edge within 1s: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("endpoint restriction in force at the edge %v after the API answered", time.Since(start).Round(time.Millisecond))
	if s := acct.api("DELETE", "/ip_restrictions/"+er.ID, "", nil); s != 204 {
		t.Fatalf("delete endpoint restriction: %d", s)
	}
	start = time.Now()
	for status, _ := through(t, public); status != 200; status, _ = through(t, public) {
		if time.Since(start) > time.Second {
			t.Fatalf("endpoint restriction not lifted within 1s: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The agent restriction: the live agent (on loopback) is disconnected, saying why.
	var ar struct{ ID string }
	if s := acct.api("POST", "/ip_restrictions", fmt.Sprintf(`{"type":"agent","enforced":true,"ip_policy_ids":[%q]}`, pol.ID), &ar); s != 201 {
		t.Fatalf("create agent restriction: %d", s)
	}
	ag.waitExit(15 * time.Second)
	if out := ag.output(); !strings.Contains(out, ar.ID) || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("the disconnected agent does not say why:\n%s", out)
	}
	// A new agent is refused (115).
	again := startAgent(t, token, "http", localServer(t, "x"), "--region", "us")
	again.waitExit(15 * time.Second)
	if out := again.output(); !strings.Contains(out, "ERR_AGENT_IP_BLOCKED") || !strings.Contains(out, ar.ID) {
		t.Fatalf("refused agent output:\n%s", out)
	}
}
