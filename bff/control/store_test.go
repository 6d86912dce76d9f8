package control

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newAccount inserts an account directly (the auth domain owns sign-up).
func newAccount(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	id := ids.New(ids.Account)
	if _, err := db.Exec(context.Background(), `insert into accounts (id, name) values ($1, 'Acme')`, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func session(account, edge string) Session {
	return Session{ID: ids.New(ids.TunnelSession), AccountID: account, CredentialID: ids.New(ids.Credential), EdgeID: edge,
		Region: "eu", AgentVersion: "1.0", OS: "linux", Arch: "amd64", IP: "203.0.113.7", RemoteManagement: true,
		StartedAt: time.Now().Truncate(time.Millisecond)}
}

func newTunnel(s Session) Tunnel {
	return Tunnel{ID: ids.New(ids.Tunnel), SessionID: s.ID, AccountID: s.AccountID, Region: s.Region, Proto: "http",
		PublicURL: "http://abc.eu.localhost:9010", ForwardsTo: "http://localhost:8080", StartedAt: time.Now()}
}

func TestReconcileReplacesWhatAnEdgeHolds(t *testing.T) {
	db := pgtest.New(t)
	st := NewStore(db)
	ctx := context.Background()
	acct := newAccount(t, db)
	if err := st.UpsertEdge(ctx, Edge{ID: "edge_eu_1", Region: "eu"}, "bff_1"); err != nil {
		t.Fatal(err)
	}
	a, b, c := session(acct, "edge_eu_1"), session(acct, "edge_eu_1"), session(acct, "edge_eu_1")
	for _, s := range []Session{a, b} {
		if err := st.SessionStarted(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	ta := newTunnel(a)
	if err := st.TunnelStarted(ctx, ta); err != nil {
		t.Fatal(err)
	}
	// The edge lost the bff; meanwhile b ended and c started. The snapshot says a and c.
	if err := st.EdgeDisconnected(ctx, "edge_eu_1"); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Session(ctx, acct, a.ID)
	if got.StaleSince == nil {
		t.Fatal("session of a disconnected edge is not marked stale")
	}
	gone, err := st.Reconcile(ctx, "edge_eu_1", []Session{a, c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != b.ID {
		t.Fatalf("removed %v, want [%s]", gone, b.ID)
	}
	list, err := st.Sessions(ctx, acct, "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("sessions after reconcile: %d %v", len(list), err)
	}
	for _, s := range list {
		if s.StaleSince != nil {
			t.Fatalf("session %s still stale after its edge came back", s.ID)
		}
	}
	// a's tunnel was not in the snapshot: it is gone.
	if tuns, _ := st.Tunnels(ctx, acct, "", 10); len(tuns) != 0 {
		t.Fatalf("tunnels after reconcile: %v", tuns)
	}
}

func TestReapRemovesOnlyLongStaleSessions(t *testing.T) {
	db := pgtest.New(t)
	st := NewStore(db)
	ctx := context.Background()
	acct := newAccount(t, db)
	for _, e := range []string{"edge_us_gone", "edge_us_live"} {
		if err := st.UpsertEdge(ctx, Edge{ID: e, Region: "us"}, "bff_1"); err != nil {
			t.Fatal(err)
		}
	}
	old, live := session(acct, "edge_us_gone"), session(acct, "edge_us_live")
	for _, s := range []Session{old, live} {
		if err := st.SessionStarted(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.EdgeDisconnected(ctx, "edge_us_gone"); err != nil {
		t.Fatal(err)
	}
	if gone, err := st.Reap(ctx, time.Hour); err != nil || len(gone) != 0 {
		t.Fatalf("reaped within grace: %v %v", gone, err)
	}
	if _, err := db.Exec(ctx, `update tunnel_sessions set stale_since = now() - interval '2 hours' where id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	gone, err := st.Reap(ctx, time.Hour)
	if err != nil || len(gone) != 1 || gone[0] != old.ID {
		t.Fatalf("reaped %v %v, want [%s]", gone, err, old.ID)
	}
	if _, err := st.Session(ctx, acct, live.ID); err != nil {
		t.Fatalf("live session reaped: %v", err)
	}
}

// TestSessionEventsAreDurable: a session's start and stop are written as agent_session_start.v0
// and agent_session_stop.v0 events with the reference's fields, in the same transactions.
func TestSessionEventsAreDurable(t *testing.T) {
	db := pgtest.New(t)
	st := NewStore(db)
	ctx := context.Background()
	acct := newAccount(t, db)
	if err := st.UpsertEdge(ctx, Edge{ID: "edge_eu_1", Region: "eu"}, "bff_1"); err != nil {
		t.Fatal(err)
	}
	s := session(acct, "edge_eu_1")
	for i := 0; i < 2; i++ { // a repeated report (snapshot after reconnect) is not a second start
		if err := st.SessionStarted(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SessionEnded(ctx, s.ID, "agent went away"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `select event_type, object->'session'->>'id', object->>'agent_ip', object->>'region',
		object->>'error', object->>'stopped_at' is not null from audit_events where account_id = $1 order by id`, acct)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		typ, id, ip, region, errMsg string
		stopped                     bool
	}
	var got []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.typ, &e.id, &e.ip, &e.region, &e.errMsg, &e.stopped); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	want := []ev{{EventSessionStart, s.ID, "203.0.113.7", "eu", "", false}, {EventSessionStop, s.ID, "203.0.113.7", "eu", "agent went away", true}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events %+v, want %+v", got, want)
	}
}

func TestRegionHistory(t *testing.T) {
	db := pgtest.New(t)
	st := NewStore(db)
	ctx := context.Background()
	acct := newAccount(t, db)
	if err := st.UpsertEdge(ctx, Edge{ID: "edge_eu_1", Region: "eu"}, "bff_1"); err != nil {
		t.Fatal(err)
	}
	if err := st.SessionStarted(ctx, session(acct, "edge_eu_1")); err != nil { // eu: one live session
		t.Fatal(err)
	}
	now := time.Now()
	// Move the eu start 32 minutes back; add a us session that stopped 12 minutes ago.
	if _, err := db.Exec(ctx, `update audit_events set created_at = $2 where account_id = $1`, acct, now.Add(-32*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `insert into audit_events (id, account_id, event_type, object, created_at)
		values ($1, $2, $3, '{"region":"us"}', $4)`, ids.New(ids.Event), acct, EventSessionStop, now.Add(-12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	h, err := st.RegionHistory(ctx, acct, now)
	if err != nil {
		t.Fatal(err)
	}
	// Points at -60, -55, ... 0 minutes.
	wantEU := []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}
	wantUS := []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}
	if fmt.Sprint(h["eu"]) != fmt.Sprint(wantEU) || fmt.Sprint(h["us"]) != fmt.Sprint(wantUS) {
		t.Fatalf("history eu=%v us=%v, want eu=%v us=%v", h["eu"], h["us"], wantEU, wantUS)
	}
}
