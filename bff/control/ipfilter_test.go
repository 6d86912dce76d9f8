package control

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/edgeway/edgeway/internal/proto"
)

func ipPtr[T any](v T) *T { return &v }

// TestIPRestrictionsOnTheControlChannel: the agent restriction refuses agents (115) when
// enforced and only logs when warn-only; enforcing it disconnects live agents it denies; the
// endpoint restriction reaches the edge with the sign-in grant and on every change.
func TestIPRestrictionsOnTheControlChannel(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct := newAccount(t, db)
	user := ids.New(ids.User)
	if _, err := db.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, 'ada@example.com', 'Ada', 'x')`, user); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `insert into memberships (account_id, user_id, roles) values ($1, $2, '{admin}')`, acct, user); err != nil {
		t.Fatal(err)
	}
	p := web.Principal{AccountID: acct, UserID: user, Email: "ada@example.com", Source: web.SourceAPI}
	creds := credentials.NewService(quiet, credentials.NewStore(db), nil)
	cred, err := creds.Create(ctx, p, credentials.Input{})
	if err != nil {
		t.Fatal(err)
	}
	cache := ippolicy.NewCache(ippolicy.NewStore(db), time.Minute) // only invalidation keeps it fresh
	ips := ippolicy.NewService(quiet, db, cache, nil)

	store := NewStore(db)
	srv := NewServer(quiet, Config{Token: "edge-secret", StaleGrace: time.Hour}, store, creds, nil, nil, nil)
	srv.EnableRelay(db)
	srv.EnableIPRestrictions(cache)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	<-srv.IPRestrictionsReady()

	fe, err := dialEdge(t, ln.Addr().String(), "edge-secret", "edge_eu_1")
	if err != nil {
		t.Fatal(err)
	}
	pushes := make(chan proto.IPPolicies, 16)
	// The edge's control stream, listening for pushes.
	stream, err := fe.mux.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.WriteFrame(stream, proto.TypeEdgeControl, proto.EdgeSnapshot{}); err != nil {
		t.Fatal(err)
	}
	ctl := proto.NewControl(stream, quiet)
	ctl.Handle(proto.TypeIPPolicies, func(_ context.Context, f proto.Frame) error {
		var m proto.IPPolicies
		if err := f.Decode(&m); err != nil {
			return err
		}
		pushes <- m
		return nil
	})
	go ctl.Run(ctx)
	fe.ctl = ctl
	nextPush := func(what string) proto.IPPolicies {
		t.Helper()
		select {
		case m := <-pushes:
			return m
		case <-time.After(time.Second): // a change must be in force on every edge within one second
			t.Fatalf("no ip policy push for %s within 1s", what)
		}
		return proto.IPPolicies{}
	}
	if m := nextPush("the snapshot"); !m.Full || len(m.Accounts) != 0 {
		t.Fatalf("snapshot answer %+v", m)
	}

	auth := func(remote string) (proto.AgentAuthResponse, error) {
		var g proto.AgentAuthResponse
		err := proto.Call(ctx, fe.mux, proto.TypeAgentAuth, proto.AgentAuthRequest{Auth: proto.AuthRequest{Authtoken: cred.Token}, RemoteAddr: remote}, &g)
		return g, err
	}
	g, err := auth("203.0.113.5:4000")
	if err != nil || g.IPPolicy == nil || g.IPPolicy.AccountID != acct || g.IPPolicy.RestrictionID != "" {
		t.Fatalf("no restriction: %+v %v", g, err)
	}

	// Two live agents: one from the office, one from elsewhere.
	office, elsewhere := ids.New(ids.TunnelSession), ids.New(ids.TunnelSession)
	for id, remote := range map[string]string{office: "198.51.100.7:5000", elsewhere: "203.0.113.9:5000"} {
		if err := fe.ctl.Send(proto.TypeSessionStarted, proto.SessionInfo{ID: id, AccountID: acct, CredentialID: cred.ID,
			RemoteAddr: remote, RemoteManagement: true, StartedUnixMilli: time.Now().UnixMilli()}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both sessions recorded", func() bool {
		_, e1 := store.Session(ctx, acct, office)
		_, e2 := store.Session(ctx, acct, elsewhere)
		return e1 == nil && e2 == nil
	})

	pol, err := ips.CreatePolicy(ctx, p, ippolicy.PolicyInput{Description: ipPtr("office")})
	if err != nil {
		t.Fatal(err)
	}
	nextPush("policy created")
	rule, err := ips.CreateRule(ctx, p, ippolicy.SelfCheck{}, ippolicy.RuleInput{PolicyID: pol.ID, CIDR: ipPtr("198.51.100.0/24"), Action: ipPtr("allow")})
	if err != nil {
		t.Fatal(err)
	}
	nextPush("rule created")

	// Warn-only: agents from elsewhere still sign in, and nobody is disconnected.
	r, err := ips.CreateRestriction(ctx, p, ippolicy.SelfCheck{}, ippolicy.RestrictionInput{Type: ipPtr(ippolicy.TypeAgent), Enforced: ipPtr(false), PolicyIDs: []string{pol.ID}})
	if err != nil {
		t.Fatal(err)
	}
	nextPush("agent restriction created")
	if _, err := auth("203.0.113.5:4000"); err != nil {
		t.Fatalf("warn-only restriction refused the agent: %v", err)
	}
	select {
	case c := <-fe.commands:
		t.Fatalf("warn-only restriction sent %+v", c)
	case <-time.After(200 * time.Millisecond):
	}

	// Enforced: the agent from elsewhere is disconnected, naming the restriction; the office stays.
	if _, err := ips.UpdateRestriction(ctx, p, ippolicy.SelfCheck{}, r.ID, ippolicy.RestrictionInput{Enforced: ipPtr(true)}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-fe.commands:
		if c.SessionID != elsewhere || c.Action != proto.ActionRevoke || !strings.Contains(c.Reason, r.ID) || !strings.Contains(c.Reason, "203.0.113.9") {
			t.Fatalf("edge got %+v", c)
		}
	case <-time.After(time.Second):
		t.Fatal("the denied live agent was not disconnected within 1s")
	}
	select {
	case c := <-fe.commands:
		t.Fatalf("allowed agent got %+v", c)
	case <-time.After(200 * time.Millisecond):
	}

	// New agents: refused from elsewhere (115) with the IP, restriction and policy named.
	_, err = auth("203.0.113.5:4000")
	var perr *proto.Error
	if pe, ok := err.(*proto.Error); ok {
		perr = pe
	}
	if perr == nil || perr.Code != proto.CodeAgentIPBlocked || !strings.Contains(perr.Msg, "203.0.113.5") ||
		!strings.Contains(perr.Msg, r.ID) || !strings.Contains(perr.Msg, "office") {
		t.Fatalf("agent from elsewhere: %v", err)
	}
	if _, err := auth("198.51.100.7:4000"); err != nil {
		t.Fatalf("agent from the office: %v", err)
	}
	if _, err := auth("[::ffff:198.51.100.8]:4000"); err != nil {
		t.Fatalf("agent from the office (IPv4-mapped): %v", err)
	}

	// Endpoint restriction: pushed to the edge, and handed out with the next grant.
	for len(pushes) > 0 {
		<-pushes
	}
	start := time.Now()
	er, err := ips.CreateRestriction(ctx, p, ippolicy.SelfCheck{}, ippolicy.RestrictionInput{Type: ipPtr(ippolicy.TypeEndpoints), Enforced: ipPtr(true), PolicyIDs: []string{pol.ID}})
	if err != nil {
		t.Fatal(err)
	}
	m := nextPush("endpoint restriction created")
	t.Logf("endpoint restriction pushed %v after the change", time.Since(start).Round(time.Microsecond))
	if m.Full || len(m.Accounts) != 1 {
		t.Fatalf("push %+v", m)
	}
	set := m.Accounts[0]
	if set.AccountID != acct || set.RestrictionID != er.ID || !set.Enforced || len(set.Rules) != 1 ||
		set.Rules[0].CIDR != "198.51.100.0/24" || set.Rules[0].Action != "allow" || set.Rules[0].ID != rule.ID {
		t.Fatalf("pushed set %+v", set)
	}
	g, err = auth("198.51.100.7:4000")
	if err != nil || g.IPPolicy == nil || g.IPPolicy.RestrictionID != er.ID || len(g.IPPolicy.Rules) != 1 {
		t.Fatalf("grant with endpoint restriction: %+v %v", g, err)
	}

	// Deleting it lifts it at the edge.
	if err := ips.DeleteRestriction(ctx, p, er.ID); err != nil {
		t.Fatal(err)
	}
	if m := nextPush("endpoint restriction deleted"); len(m.Accounts) != 1 || m.Accounts[0].RestrictionID != "" {
		t.Fatalf("push after delete %+v", m)
	}
}
