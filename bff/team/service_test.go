package team

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestTwoAdminsDemotingEachOtherKeepOne: whatever the interleaving, the account keeps an
// enabled administrator, and the loser gets the clear last-admin error (not a deadlock).
func TestTwoAdminsDemotingEachOtherKeepOne(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	for _, q := range []string{
		`insert into accounts (id, name, plan) values ('ac_1', 'Acme', 'pro')`,
		`insert into users (id, email, name, password_hash) values ('usr_a', 'a@example.com', 'A', 'x'), ('usr_b', 'b@example.com', 'B', 'x')`,
		`insert into memberships (account_id, user_id, roles) values ('ac_1', 'usr_a', '{admin}'), ('ac_1', 'usr_b', '{admin}')`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := New(log, db, plans.New(log, db), nil, nil, nil, "http://dash")
	a := web.Principal{UserID: "usr_a", Email: "a@example.com", AccountID: "ac_1", Roles: []string{auth.RoleAdmin}, Source: web.SourceDashboard}
	b := web.Principal{UserID: "usr_b", Email: "b@example.com", AccountID: "ac_1", Roles: []string{auth.RoleAdmin}, Source: web.SourceDashboard}
	dev := []string{auth.RoleDeveloperReadWrite}
	for round := 0; round < 5; round++ {
		if _, err := db.Exec(ctx, `update memberships set roles = '{admin}' where account_id = 'ac_1'`); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); errs[0] = svc.ChangeRoles(ctx, a, "usr_b", dev) }()
		go func() { defer wg.Done(); errs[1] = svc.ChangeRoles(ctx, b, "usr_a", dev) }()
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			if e, isHE := httperr.As(err); !isHE || e.Code != httperr.CodeLastAdmin {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		var admins int
		if err := db.QueryRow(ctx, `select count(*) from memberships where 'admin' = any (roles)`).Scan(&admins); err != nil {
			t.Fatal(err)
		}
		if ok != 1 || admins != 1 {
			t.Fatalf("round %d: %d changes succeeded, %d admins left; errors %v", round, ok, admins, errs)
		}
	}
}
