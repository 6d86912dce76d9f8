package control

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/edgeway/edgeway/internal/proto"
)

// TestAgentSessionLimit: an agent is refused with ERR_SESSION_LIMIT, naming the limit and the
// plan, once the account has as many sessions as its plan allows; below the limit, reconnecting
// with its own client_id (replacing its ghost session), or after an upgrade it is let in.
func TestAgentSessionLimit(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	acct := newAccount(t, db)
	var user string
	if err := db.QueryRow(ctx, `insert into users (id, email, name, password_hash) values ($1, 'ada@example.com', 'Ada', 'x') returning id`,
		ids.New(ids.User)).Scan(&user); err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewService(quiet, credentials.NewStore(db), nil)
	cred, err := creds.Create(ctx, web.Principal{AccountID: acct, UserID: user}, credentials.Input{})
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(db)
	srv := NewServer(quiet, Config{Token: "edge-secret"}, store, creds, nil, plans.New(quiet, db), nil)
	if err := store.UpsertEdge(ctx, Edge{ID: "edge_eu_1", Region: "eu"}, srv.BffID()); err != nil {
		t.Fatal(err)
	}
	ec := &edgeConn{hello: proto.EdgeHello{EdgeID: "edge_eu_1", Region: "eu"}}
	auth := func(clientID string) error {
		_, err := srv.agentAuth(ctx, ec, &proto.AgentAuthRequest{Auth: proto.AuthRequest{Authtoken: cred.Token, ClientID: clientID}})
		return err
	}
	online := func(clientID string) {
		t.Helper()
		s := session(acct, "edge_eu_1")
		s.ClientID = clientID
		if err := store.SessionStarted(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	max := plans.MustGet(plans.Free).Limits[plans.AgentSessions]
	if max < 2 {
		t.Fatalf("the free plan allows %d agent sessions; the test needs at least 2", max)
	}

	// Below the limit.
	for i := 0; i < max-1; i++ {
		online("client-" + string(rune('a'+i)))
	}
	if err := auth("client-new"); err != nil {
		t.Fatalf("below the limit (%d of %d): %v", max-1, max, err)
	}
	// Other accounts' sessions do not count.
	other := newAccount(t, db)
	for i := 0; i < max; i++ {
		s := session(other, "edge_eu_1")
		if err := store.SessionStarted(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := auth("client-new"); err != nil {
		t.Fatalf("another account's sessions counted: %v", err)
	}

	// At the limit.
	online("client-last")
	for _, clientID := range []string{"client-new", ""} {
		err := auth(clientID)
		var pe *proto.Error
		if !errors.As(err, &pe) || pe.Code != proto.CodeSessionLimit {
			t.Fatalf("at the limit, client %q: err = %v; want %s", clientID, err, proto.CodeSessionLimit)
		}
		for _, want := range []string{"Free plan", "agent sessions", "agent_sessions", "Pro"} {
			if !strings.Contains(pe.Msg, want) {
				t.Errorf("message %q does not mention %q", pe.Msg, want)
			}
		}
		if pe.Details["limit"] != "agent_sessions" || pe.Details["plan"] != "free" || pe.Details["used"] == "" || pe.Details["max"] == "" {
			t.Errorf("details = %v", pe.Details)
		}
	}
	// A reconnecting agent replaces its own ghost session: not refused.
	if err := auth("client-last"); err != nil {
		t.Fatalf("reconnect with the same client_id at the limit: %v", err)
	}
	// An upgrade lifts the limit on the next connection.
	if _, err := db.Exec(ctx, `update accounts set plan = 'pro' where id = $1`, acct); err != nil {
		t.Fatal(err)
	}
	if err := auth("client-new"); err != nil {
		t.Fatalf("after upgrading to pro: %v", err)
	}
}
