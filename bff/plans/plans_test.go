package plans

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestEveryPlanSetsEveryLimit(t *testing.T) {
	for _, p := range Plans {
		for _, l := range Limits {
			if _, ok := p.Limits[l]; !ok {
				t.Errorf("plan %s does not set %s", p.Name, l)
			}
			if LimitLabels[l] == "" {
				t.Errorf("limit %s has no label", l)
			}
		}
	}
	// Upgrading never lowers a limit.
	for i := 1; i < len(Plans); i++ {
		for _, l := range Limits {
			if Plans[i].Limits[l] < Plans[i-1].Limits[l] {
				t.Errorf("%s allows fewer %s than %s", Plans[i].Name, l, Plans[i-1].Name)
			}
		}
	}
	if Plans[0].Paid || !Plans[1].Paid {
		t.Error("free must be unpaid and pro paid")
	}
}

func TestLimitError(t *testing.T) {
	e := LimitError(Free, ReservedDomains, 1)
	if e.Status != http.StatusPaymentRequired || e.Code != httperr.CodePlanLimit ||
		e.Msg != "Plan limit reached: the Free plan allows 1 reserved domains and the account has 1. Upgrade to Pro for 10, or remove one first." {
		t.Fatalf("LimitError = %d %s %q", e.Status, e.Code, e.Msg)
	}
	if e.Details["limit"] != "reserved_domains" || e.Details["max"] != 1 {
		t.Fatalf("details = %v", e.Details)
	}
	if e := LimitError(Enterprise, Users, 500); !strings.HasSuffix(e.Msg, "Remove one first.") {
		t.Fatalf("top plan: %q", e.Msg)
	}
}

func TestCheckAndSetPlan(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	acct := ids.New(ids.Account)
	if _, err := db.Exec(ctx, `insert into accounts (id, name) values ($1, 'Acme')`, acct); err != nil {
		t.Fatal(err)
	}
	svc := New(slog.New(slog.NewTextHandler(io.Discard, nil)), db)
	used := 0
	svc.SetCounter(ReservedDomains, func(context.Context, pg.DB, string) (int, error) { return used, nil })

	if err := svc.Check(ctx, acct, ReservedDomains); err != nil {
		t.Fatalf("0 of 1: %v", err)
	}
	used = 1
	err := svc.Check(ctx, acct, ReservedDomains)
	if e, ok := httperr.As(err); !ok || e.Code != httperr.CodePlanLimit || !strings.Contains(e.Msg, "reserved domains") {
		t.Fatalf("1 of 1: %v", err)
	}
	if err := svc.Check(ctx, acct, "nonsense"); err == nil {
		t.Fatal("unknown limit passed")
	}
	if err := svc.SetPlan(ctx, web.Principal{}, acct, Pro); err != nil {
		t.Fatal(err)
	}
	if err := svc.Check(ctx, acct, ReservedDomains); err != nil {
		t.Fatalf("1 of 10: %v", err)
	}
	a, err := svc.Account(ctx, acct)
	if err != nil || a.Plan.Name != Pro || a.Usage[ReservedDomains] != 1 || a.Usage[AgentSessions] != 0 {
		t.Fatalf("Account = %+v, %v", a, err)
	}
	// Downgrading below what is used is refused and names the limit.
	used = 5
	err = svc.SetPlan(ctx, web.Principal{}, acct, Free)
	if e, ok := httperr.As(err); !ok || e.Status != http.StatusConflict || !strings.Contains(e.Msg, "reserved domains (5, the plan allows 1)") {
		t.Fatalf("downgrade = %v", err)
	}
	if err := svc.SetPlan(ctx, web.Principal{}, acct, "gold"); err == nil {
		t.Fatal("unknown plan accepted")
	}
	if err := svc.RequirePaid(ctx, db, acct, "Teams"); err != nil {
		t.Fatalf("pro is paid: %v", err)
	}
	var e *httperr.Error
	if err := svc.SetPlan(ctx, web.Principal{}, "ac_missing", Pro); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("missing account = %v", err)
	}
}
