package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	sessionRe = `Session\s+(ts_[0-9a-z]+)`
	httpURLRe = `Forwarding\s+(http://\S+)\s+->`
)

type sessionList struct {
	TunnelSessions []struct {
		ID, Region, Hostname, IP, OS string
		RemoteManagement             bool `json:"remote_management"`
	} `json:"tunnel_sessions"`
}

func TestHTTPTunnelAndSessionAPI(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	port := localServer(t, "hello from local")
	ag := startAgent(t, token, "http", port, "--region", "us")
	id := ag.waitFor(sessionRe, 0)
	public := ag.waitFor(httpURLRe, 0)
	if !strings.Contains(public, ".us.localhost") {
		t.Fatalf("public URL %s is not in region us", public)
	}
	status, body := through(t, public)
	if status != 200 || !strings.HasPrefix(body, "hello from local") || !strings.Contains(body, "xff=127.0.0.1") {
		t.Fatalf("through the tunnel: %d %q", status, body)
	}
	var list sessionList
	if s := acct.api("GET", "/tunnel_sessions", "", &list); s != 200 || len(list.TunnelSessions) != 1 {
		t.Fatalf("tunnel_sessions: %d %+v", s, list)
	}
	got := list.TunnelSessions[0]
	if got.ID != id || got.Region != "us" || got.Hostname == "" || got.IP != "127.0.0.1" || !got.RemoteManagement {
		t.Fatalf("session %+v, want %s in us with a hostname", got, id)
	}
	var tunnels struct {
		Tunnels []struct {
			PublicURL     string              `json:"public_url"`
			TunnelSession struct{ ID string } `json:"tunnel_session"`
		}
	}
	if s := acct.api("GET", "/tunnels", "", &tunnels); s != 200 || len(tunnels.Tunnels) == 0 || tunnels.Tunnels[0].TunnelSession.ID != id {
		t.Fatalf("tunnels: %d %+v", s, tunnels)
	}
	// Another account sees nothing of it and cannot stop it.
	other := newAccount(t)
	if s := other.api("POST", "/tunnel_sessions/"+id+"/stop", "", nil); s != 404 {
		t.Fatalf("foreign stop = %d, want 404", s)
	}
}

func TestRestartThenStopThroughTheAPI(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	ag := startAgent(t, token, "http", localServer(t, "x"), "--region", "eu")
	first := ag.waitFor(sessionRe, 0)
	if s := acct.api("POST", "/tunnel_sessions/"+first+"/restart", "", nil); s != 204 {
		t.Fatalf("restart = %d", s)
	}
	second := ag.waitFor(sessionRe, 1)
	if second == first {
		t.Fatalf("restart kept the session id %s", first)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list sessionList
		acct.api("GET", "/tunnel_sessions", "", &list)
		if len(list.TunnelSessions) == 1 && list.TunnelSessions[0].ID == second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions after restart: %+v, want only %s", list, second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	if s := acct.api("POST", "/tunnel_sessions/"+second+"/stop", "", nil); s != 204 {
		t.Fatalf("stop = %d", s)
	}
	if code := ag.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("agent exit code %d after a remote stop, want 0", code)
	}
	t.Logf("stop call to agent exit: %s", time.Since(start))
}

func TestRemoteManagementDisabledIsRefused(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	cfg := filepath.Join(t.TempDir(), "agent.yml")
	yml := "region: us\nremote_management: false\ntunnels:\n  web:\n    proto: http\n    addr: \"" + localServer(t, "x") + "\"\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, token, "start", "--all", "--config", cfg)
	id := ag.waitFor(sessionRe, 0)
	var e struct {
		ErrorCode string `json:"error_code"`
		Msg       string
	}
	if s := acct.api("POST", "/tunnel_sessions/"+id+"/stop", "", &e); s != 409 || e.ErrorCode != "ERR_EDGEWAY_REMOTE_MANAGEMENT_DISABLED" {
		t.Fatalf("stop of an agent without remote management = %d %+v", s, e)
	}
	select {
	case <-ag.done:
		t.Fatal("the agent exited although it refuses remote management")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestReservedDomainInAnotherRegion(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	domain := fmt.Sprintf("it%d.example.test", time.Now().UnixNano())
	if s := acct.api("POST", "/reserved_domains", `{"domain":"`+domain+`","region":"eu"}`, nil); s != 201 {
		t.Fatalf("reserve: %d", s)
	}
	port := localServer(t, "reserved")
	t.Run("pinned to the wrong region fails naming both", func(t *testing.T) {
		ag := startAgent(t, token, "http", port, "--domain", domain, "--region", "us")
		if code := ag.waitExit(20 * time.Second); code == 0 {
			t.Fatal("agent succeeded in the wrong region")
		}
		out := ag.output()
		if !strings.Contains(out, "region us") || !strings.Contains(out, "region eu") {
			t.Fatalf("error does not name both regions:\n%s", out)
		}
	})
	t.Run("auto goes to the region that holds the name", func(t *testing.T) {
		ag := startAgent(t, token, "http", port, "--domain", domain, "--region", "auto")
		public := ag.waitFor(httpURLRe, 0)
		u, _ := url.Parse(public)
		if u.Hostname() != domain || !regexp.MustCompile(`Region\s+.*\beu\b`).MatchString(ag.output()) {
			t.Fatalf("auto agent: %s\n%s", public, ag.output())
		}
		var list sessionList
		acct.api("GET", "/tunnel_sessions", "", &list)
		if len(list.TunnelSessions) != 1 || list.TunnelSessions[0].Region != "eu" {
			t.Fatalf("session not in eu: %+v", list)
		}
	})
}

func TestRevokingTheAuthtokenDisconnectsItsAgent(t *testing.T) {
	acct := newAccount(t)
	id, token := acct.authtoken()
	ag := startAgent(t, token, "http", localServer(t, "x"), "--region", "us")
	ag.waitFor(sessionRe, 0)
	if s := acct.api("DELETE", "/credentials/"+id, "", nil); s != 204 {
		t.Fatalf("revoke = %d", s)
	}
	// The agent exits (0: a supervisor should not restart it with a dead token) and says why.
	ag.waitExit(15 * time.Second)
	if !strings.Contains(ag.output(), "revoked") {
		t.Fatalf("agent does not say why:\n%s", ag.output())
	}
}

func TestTCPTunnel(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n')
				fmt.Fprintf(c, "echo %s", line)
			}()
		}
	}()
	_, port, _ := strings.Cut(ln.Addr().String(), ":")
	ag := startAgent(t, token, "tcp", port, "--region", "us")
	public := ag.waitFor(`Forwarding\s+(tcp://\S+)\s+->`, 0)
	u, _ := url.Parse(public)
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+u.Port(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "ping\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "echo ping\n" {
		t.Fatalf("through the TCP tunnel: %q %v", got, err)
	}
}

func TestSessionListFilter(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	us := startAgent(t, token, "http", localServer(t, "a"), "--region", "us")
	eu := startAgent(t, token, "http", localServer(t, "b"), "--region", "eu")
	usID, euID := us.waitFor(sessionRe, 0), eu.waitFor(sessionRe, 0)
	var list sessionList
	deadline := time.Now().Add(10 * time.Second)
	for len(list.TunnelSessions) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions: %+v", list)
		}
		list = sessionList{}
		acct.api("GET", "/tunnel_sessions", "", &list)
	}
	for filter, want := range map[string]string{`obj.region == "eu"`: euID, `obj.region != "eu" && obj.remote_management`: usID} {
		list = sessionList{}
		if s := acct.api("GET", "/tunnel_sessions?filter="+url.QueryEscape(filter), "", &list); s != 200 || len(list.TunnelSessions) != 1 || list.TunnelSessions[0].ID != want {
			t.Fatalf("filter %s = %d %+v, want only %s", filter, s, list, want)
		}
	}
	var e struct {
		ErrorCode string `json:"error_code"`
	}
	if s := acct.api("GET", "/tunnel_sessions?filter="+url.QueryEscape(`obj.region ==`), "", &e); s != 400 || e.ErrorCode != "ERR_EDGEWAY_INVALID_FILTER" {
		t.Fatalf("bad filter = %d %+v", s, e)
	}
}
