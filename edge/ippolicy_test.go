package edge_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/proto"
)

func denyLoopback(enforced bool) proto.IPPolicies {
	return proto.IPPolicies{Accounts: []proto.IPPolicySet{{AccountID: "ac_1", RestrictionID: "ipx_1", Enforced: enforced,
		Rules: []proto.IPPolicyRule{{ID: "ipr_1", PolicyID: "ipp_1", CIDR: "127.0.0.1/32", Action: "deny"}, {ID: "ipr_2", PolicyID: "ipp_1", CIDR: "0.0.0.0/0", Action: "allow"}}}}}
}

// TestEndpointIPRestrictionPushed: a restriction pushed by the bff is in force on the edge's
// HTTP and TCP endpoints within a second; lifting it (or making it warn-only) lets visitors in.
func TestEndpointIPRestrictionPushed(t *testing.T) {
	checkNoLeaks(t)
	bff := startFakeBFF(t)
	srv, err := edge.New(edge.Config{Region: "us", HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0",
		TCPPorts: freePortRange(t, 2), TCPHost: "127.0.0.1", DrainTimeout: time.Second}, testLog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := edge.NewControl(edge.ControlConfig{Addr: bff.ln.Addr().String(), Token: "edge-secret", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, srv, testLog(t))
	srv.UseControl(ctl)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	bff.expect(t, "snapshot 0 0")
	waitFor(t, func() bool { return srv.Health().BFF == "up" })

	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) }))
	defer local.Close()
	sess, err := agent.Connect(ctx, agent.Config{ServerAddr: srv.AgentAddr().String(), Authtoken: "good",
		Tunnels: []agent.Tunnel{httpLocal(local.Listener.Addr().String()), tcpLocal(echoServer(t))}})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var httpURL, tcpURL string
	for _, tu := range sess.Tunnels() {
		if tu.Proto == proto.ProtoTCP {
			tcpURL = tu.PublicURL
		} else {
			httpURL = tu.PublicURL
		}
	}
	addr := srv.HTTPAddr().String()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}}
	defer c.CloseIdleConnections()
	get := func() (int, string, string) {
		t.Helper()
		resp, err := c.Post(httpURL+"/", "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Edgeway-Error-Code"), string(b)
	}
	tcpOK := func() bool {
		t.Helper()
		conn, err := net.Dial("tcp", tcpAddr(t, tcpURL))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("ping")); err != nil {
			return false
		}
		buf := make([]byte, 4)
		_, err = io.ReadFull(conn, buf)
		return err == nil && string(buf) == "ping"
	}
	inForce := func(what string, cond func() bool) {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > time.Second {
				t.Fatalf("%s not in force within 1s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%s in force after %v", what, time.Since(start).Round(time.Microsecond))
	}

	if code, _, _ := get(); code != 200 {
		t.Fatalf("no restriction: status %d", code)
	}
	if !tcpOK() {
		t.Fatal("no restriction: tcp refused")
	}

	// Deny 127.0.0.1/32: the visitor (on loopback) gets a 403 naming its IP and the code.
	bff.pushIPPolicies(t, denyLoopback(true))
	inForce("deny", func() bool { code, _, _ := get(); return code == http.StatusForbidden })
	code, ecode, body := get()
	if code != 403 || ecode != proto.CodeEndpointIPBlocked || !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, proto.CodeEndpointIPBlocked) {
		t.Fatalf("blocked: %d %s %q", code, ecode, body)
	}
	if tcpOK() {
		t.Fatal("tcp visitor passed a denying restriction")
	}

	// Warn-only: visitors pass.
	bff.pushIPPolicies(t, denyLoopback(false))
	inForce("warn-only", func() bool { code, _, _ := get(); return code == 200 })
	if !tcpOK() {
		t.Fatal("warn-only: tcp refused")
	}

	// An allow rule for the visitor.
	bff.pushIPPolicies(t, proto.IPPolicies{Accounts: []proto.IPPolicySet{{AccountID: "ac_1", RestrictionID: "ipx_1", Enforced: true,
		Rules: []proto.IPPolicyRule{{CIDR: "127.0.0.0/8", Action: "allow"}}}}})
	if code, _, _ := get(); code != 200 {
		// pushes are applied in order on one stream: wait for it like the others
		inForce("allow", func() bool { code, _, _ := get(); return code == 200 })
	}

	// Deny again, then the restriction is deleted: lifted.
	bff.pushIPPolicies(t, denyLoopback(true))
	inForce("deny again", func() bool { code, _, _ := get(); return code == 403 })
	bff.pushIPPolicies(t, proto.IPPolicies{Accounts: []proto.IPPolicySet{{AccountID: "ac_1"}}})
	inForce("lifted", func() bool { code, _, _ := get(); return code == 200 })
	if !tcpOK() {
		t.Fatal("lifted: tcp refused")
	}

	// The edge keeps what it holds while the bff is away; the bff's answer to the next snapshot
	// replaces it all (here: nothing is restricted any more).
	bff.pushIPPolicies(t, denyLoopback(true))
	inForce("deny before the bff restarts", func() bool { code, _, _ := get(); return code == 403 })
	bff.drop()
	bff.expect(t, "snapshot 1 2")
	if code, _, _ := get(); code != 403 {
		t.Fatalf("restriction lost on reconnect: %d", code)
	}
	waitFor(t, func() bool { return srv.Health().BFF == "up" })
	bff.pushIPPolicies(t, proto.IPPolicies{Full: true})
	inForce("full replacement", func() bool { code, _, _ := get(); return code == 200 })
}
