package audit

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestWriteInTheChangesTransaction(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `insert into accounts (id, name) values ('ac_1', 'Acme')`); err != nil {
		t.Fatal(err)
	}
	dash := web.Principal{UserID: "usr_1", Email: "ada@example.com", AccountID: "ac_1", Source: web.SourceDashboard}
	api := web.Principal{UserID: "usr_1", Email: "ada@example.com", AccountID: "ac_1", Source: web.SourceAPI, APIKeyID: "ak_1"}
	if err := Write(ctx, db, dash, APIKeyCreated, "ak_1", map[string]string{"id": "ak_1"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(ctx, db, api, APIKeyDeleted, "ak_1", map[string]string{"id": "ak_1"}); err != nil {
		t.Fatal(err)
	}
	// A rolled-back change leaves no event.
	_ = pg.InTx(ctx, db, func(tx pgx.Tx) error {
		if err := Write(ctx, tx, dash, APIKeyUpdated, "ak_1", nil); err != nil {
			t.Fatal(err)
		}
		return context.Canceled
	})
	evs, err := List(ctx, db, "ac_1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	want := []Principal{
		{ID: "usr_1", Subject: "ada@example.com", Source: "API", Credential: &Ref{ID: "ak_1"}},
		{ID: "usr_1", Subject: "ada@example.com", Source: "Dashboard"},
	}
	for i, e := range evs {
		if diff := cmp.Diff(want[i], e.Principal); diff != "" {
			t.Errorf("event %d principal (-want +got):\n%s", i, diff)
		}
	}
	if evs[0].Type != APIKeyDeleted || evs[0].AccountID != "ac_1" || evs[0].ID[:3] != "ev_" {
		t.Fatalf("newest event = %+v", evs[0])
	}
	out, _ := json.Marshal(evs[0])
	var env map[string]any
	_ = json.Unmarshal(out, &env)
	for _, k := range []string{"event_id", "event_type", "event_timestamp", "account_id", "object", "principal"} {
		if _, ok := env[k]; !ok {
			t.Errorf("envelope lacks %s: %s", k, out)
		}
	}
}
