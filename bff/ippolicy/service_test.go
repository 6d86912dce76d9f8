package ippolicy

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ptr[T any](v T) *T { return &v }

// setup returns a service on a fresh database and the principal of a new account's administrator.
func setup(t *testing.T) (*Service, *pgxpool.Pool, web.Principal) {
	t.Helper()
	db := pgtest.New(t)
	ctx := t.Context()
	p := web.Principal{UserID: ids.New(ids.User), AccountID: ids.New(ids.Account), Email: "ada@example.com", Source: web.SourceDashboard}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`insert into accounts (id, name) values ($1, 'Acme')`, []any{p.AccountID}},
		{`insert into users (id, email, name, password_hash) values ($1, $2, 'Ada', 'x')`, []any{p.UserID, p.Email}},
		{`insert into memberships (account_id, user_id, roles) values ($1, $2, '{admin}')`, []any{p.AccountID, p.UserID}},
	} {
		if _, err := db.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewService(log, db, NewCache(NewStore(db), 50*time.Millisecond), nil), db, p
}

func TestSelfLockoutRollsBackUnlessConfirmed(t *testing.T) {
	svc, _, p := setup(t)
	ctx := t.Context()
	me := SelfCheck{IP: netip.MustParseAddr("::ffff:192.0.2.7")}
	pol, err := svc.CreatePolicy(ctx, p, PolicyInput{Description: ptr("office")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateRule(ctx, p, me, RuleInput{PolicyID: pol.ID, CIDR: ptr("192.0.2.0/24"), Action: ptr("allow")}); err != nil {
		t.Fatal(err)
	}
	r, err := svc.CreateRestriction(ctx, p, me, RestrictionInput{Type: ptr(TypeDashboard), Enforced: ptr(true), PolicyIDs: []string{pol.ID}})
	if err != nil {
		t.Fatalf("a restriction that allows me: %v", err)
	}
	// Denying my /32 would win over the /24: refused with the explanation, and not saved.
	_, err = svc.CreateRule(ctx, p, me, RuleInput{PolicyID: pol.ID, CIDR: ptr("192.0.2.7/32"), Action: ptr("deny")})
	l, ok := AsLockout(err)
	if e, _ := httperr.As(err); !ok || e.Code != httperr.CodeIPSelfLockout || l.IP.String() != "192.0.2.7" || l.Decision.Rule.Prefix.String() != "192.0.2.7/32" {
		t.Fatalf("lockout = %v", err)
	}
	if rules, _ := svc.ListRules(ctx, p, pol.ID, "", 10); len(rules) != 1 {
		t.Fatalf("the refused rule was saved: %v", rules)
	}
	// Someone elsewhere (the API) is not asked; nor is the person who confirmed.
	if _, err := svc.CreateRule(ctx, p, SelfCheck{IP: me.IP, Confirmed: true}, RuleInput{PolicyID: pol.ID, CIDR: ptr("192.0.2.7/32"), Action: ptr("deny")}); err != nil {
		t.Fatal(err)
	}
	v, err := svc.Cache().Check(ctx, p.AccountID, TypeDashboard, me.IP)
	if err != nil || !v.Blocked() || v.Compiled.Restriction.ID != r.ID {
		t.Fatalf("after confirming: %+v %v", v, err)
	}
	// Warn only: no confirmation needed, nothing blocked.
	if _, err := svc.UpdateRestriction(ctx, p, me, r.ID, RestrictionInput{Enforced: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if v, _ := svc.Cache().Check(ctx, p.AccountID, TypeDashboard, me.IP); v.Blocked() || !v.Warned() {
		t.Fatalf("warn only: %+v", v)
	}
}

func TestCacheSeesChangesFromElsewhere(t *testing.T) {
	svc, db, p := setup(t)
	ctx := t.Context()
	pol, _ := svc.CreatePolicy(ctx, p, PolicyInput{})
	svc.CreateRule(ctx, p, SelfCheck{}, RuleInput{PolicyID: pol.ID, CIDR: ptr("198.51.100.0/24"), Action: ptr("allow")})
	svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(TypeAPI), Enforced: ptr(true), PolicyIDs: []string{pol.ID}})
	ip := netip.MustParseAddr("198.51.100.1")
	if v, _ := svc.Cache().Check(ctx, p.AccountID, TypeAPI, ip); !v.Decision.Allowed {
		t.Fatalf("allowed before: %+v", v)
	}
	// Another replica changes the rule (plain SQL here): the trigger bumps the version and this
	// cache picks the change up after its recheck interval.
	if _, err := db.Exec(ctx, `update ip_policy_rules set action = 'deny'`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		v, err := svc.Cache().Check(ctx, p.AccountID, TypeAPI, ip)
		if err != nil {
			t.Fatal(err)
		}
		if v.Blocked() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change was not seen within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Deleting the account removes everything, triggers included.
	if _, err := db.Exec(context.Background(), `delete from accounts where id = $1`, p.AccountID); err != nil {
		t.Fatalf("delete account: %v", err)
	}
}

func TestTenThousandRulesInOnePolicy(t *testing.T) {
	svc, db, p := setup(t)
	ctx := t.Context()
	pol, _ := svc.CreatePolicy(ctx, p, PolicyInput{})
	if _, err := db.Exec(ctx, `insert into ip_policy_rules (id, account_id, ip_policy_id, cidr, action)
		select 'ipr_' || lpad(i::text, 26, '0'), $1, $2, '10.' || (i / 256) || '.' || (i % 256) || '.0/24', case when i % 2 = 0 then 'allow' else 'deny' end
		from generate_series(0, 9999) i`, p.AccountID, pol.ID); err != nil {
		t.Fatal(err)
	}
	svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(TypeEndpoints), Enforced: ptr(true), PolicyIDs: []string{pol.ID}})
	comp, err := svc.Cache().Restriction(ctx, p.AccountID, TypeEndpoints)
	if err != nil || comp.Matcher.Len() != 10000 {
		t.Fatalf("compiled %v %v", comp, err)
	}
	if !comp.Decide(netip.MustParseAddr("10.0.0.1")).Allowed || comp.Decide(netip.MustParseAddr("10.0.1.1")).Allowed ||
		!comp.Decide(netip.MustParseAddr("10.39.14.1")).Allowed || comp.Decide(netip.MustParseAddr("10.39.15.1")).Allowed ||
		comp.Decide(netip.MustParseAddr("10.40.0.1")).Matched {
		t.Fatal("wrong decisions")
	}
}
