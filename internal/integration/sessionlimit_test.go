package integration

import (
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAgentSessionLimit fills a free account's agent-session limit with real agent processes,
// then starts one more: the bff refuses it with ERR_SESSION_LIMIT, the agent prints the code and
// the plan's message and exits non-zero at once (no reconnect loop), and the agents already
// online keep their sessions and keep forwarding.
func TestAgentSessionLimit(t *testing.T) {
	acct := newAccount(t)
	var info struct {
		Plan   string
		Limits map[string]int
		Usage  map[string]int
	}
	if s := acct.api("GET", "/account", "", &info); s != 200 {
		t.Fatalf("GET /account = %d", s)
	}
	max := info.Limits["agent_sessions"]
	if info.Plan != "free" || max < 1 || max > 10 {
		t.Fatalf("a new account is on plan %q with %d agent sessions; the test wants the free plan's small limit", info.Plan, max)
	}
	_, token := acct.authtoken()
	port := localServer(t, "kept")

	regions := []string{"us", "eu"}
	var agents []*agentProc
	var ids, urls []string
	for i := 0; i < max; i++ {
		ag := startAgent(t, token, "http", port, "--region", regions[i%len(regions)])
		agents = append(agents, ag)
		ids = append(ids, ag.waitFor(sessionRe, 0))
		urls = append(urls, ag.waitFor(httpURLRe, 0))
	}
	// The limit counts the sessions the bff has recorded (the edges report them asynchronously).
	listed := func() []string {
		var list sessionList
		if s := acct.api("GET", "/tunnel_sessions", "", &list); s != 200 {
			t.Fatalf("GET /tunnel_sessions = %d", s)
		}
		var got []string
		for _, s := range list.TunnelSessions {
			got = append(got, s.ID)
		}
		slices.Sort(got)
		return got
	}
	slices.Sort(ids)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(listed(), ids) {
		if time.Now().After(deadline) {
			t.Fatalf("sessions listed %v, want %v", listed(), ids)
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	extra := startAgent(t, token, "http", port, "--region", "us")
	code := extra.waitExit(15 * time.Second)
	took := time.Since(start)
	out := extra.output()
	t.Logf("refused agent exited %d after %s:\n%s", code, took, out)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (a permanent error)", code)
	}
	for _, want := range []string{
		"agent: ERR_SESSION_LIMIT: plan limit reached: the Free plan allows " + strconv.Itoa(max) + " agent sessions online",
		"the account has " + strconv.Itoa(max) + " online",
		"Stop an agent first",
		"upgrade to the Pro plan",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the refused agent's output lacks %q", want)
		}
	}
	if strings.Contains(out, "reconnecting") || strings.Contains(out, "online\n") || regexp.MustCompile(sessionRe).MatchString(out) {
		t.Errorf("the refused agent retried or claimed a session")
	}
	if took > 10*time.Second {
		t.Errorf("the refused agent took %s to give up", took)
	}

	// In a terminal the status view is torn down before the refusal is printed, so the message
	// stays on the screen after the agent exits.
	tty := startPTYAgent(t, token, 100, "http", port, "--region", "eu")
	err := tty.wait(t, 15*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("in a terminal: exit %v, want status 1", err)
	}
	screen := tty.out.String()
	left := strings.LastIndex(screen, showCursor+mainScreen)
	if left < 0 || !strings.Contains(screen[left:], "agent: ERR_SESSION_LIMIT: plan limit reached") {
		t.Errorf("in a terminal the refusal is not printed after the view is torn down: %q", tailBytes(screen, 600))
	}

	// The agents already online are untouched: still running, the same sessions, no reconnects,
	// and still forwarding.
	for i, ag := range agents {
		select {
		case <-ag.done:
			t.Fatalf("agent %d exited (%d):\n%s", i, ag.code, ag.output())
		default:
		}
		if n := len(regexp.MustCompile(sessionRe).FindAllString(ag.output(), -1)); n != 1 || strings.Contains(ag.output(), "reconnecting") {
			t.Errorf("agent %d reconnected:\n%s", i, ag.output())
		}
		if status, body := through(t, urls[i]); status != 200 || !strings.HasPrefix(body, "kept") {
			t.Errorf("agent %d no longer forwards: %d %q", i, status, body)
		}
	}
	if got := listed(); !slices.Equal(got, ids) {
		t.Fatalf("sessions after the refusal %v, want %v", got, ids)
	}
}
