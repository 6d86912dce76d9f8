package control

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/bff/live"
	"github.com/edgeway/edgeway/internal/pgtest"
)

// TestFeedCrossesReplicas: a session reported to one bff reaches an Agents page held open on
// another bff (both feeds share PostgreSQL and meet through LISTEN/NOTIFY).
func TestFeedCrossesReplicas(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct := newAccount(t, db)
	st := NewStore(db)
	hubA, hubB := live.NewHub(quiet), live.NewHub(quiet)
	feedA, feedB := NewFeed(quiet, st, hubA, db), NewFeed(quiet, st, hubB, db)
	go feedA.Listen(ctx)
	go feedB.Listen(ctx)
	<-feedA.Ready()
	<-feedB.Ready()

	tab := hubB.Subscribe(ViewKey{AccountID: acct}.Topic()) // a browser on replica B
	if err := st.UpsertEdge(ctx, Edge{ID: "edge_eu_1", Region: "eu"}, "bff_a"); err != nil {
		t.Fatal(err)
	}
	s := session(acct, "edge_eu_1")
	if err := st.SessionStarted(ctx, s); err != nil { // reported to replica A
		t.Fatal(err)
	}
	feedA.SessionsChanged(acct, s.ID)
	select {
	case msg := <-tab.Messages():
		if !strings.Contains(string(msg), `data-session-id="`+s.ID+`"`) {
			t.Fatalf("replica B pushed a fragment without the new row:\n%.500s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("replica B's tab heard nothing of a session reported to replica A")
	}
}
