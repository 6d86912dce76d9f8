package reservations

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newLimitedService is newService with the plans' limits enforced.
func newLimitedService(t *testing.T) (*Service, *pgxpool.Pool) {
	t.Helper()
	_, db := newService(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewService(log, NewStore(db), mustRegions(t, testEdges), plans.New(log, db)), db
}

func setPlan(t *testing.T, db *pgxpool.Pool, p web.Principal, plan string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `update accounts set plan = $2 where id = $1`, p.AccountID, plan); err != nil {
		t.Fatal(err)
	}
}

// wantLimit fails unless err is the plan-limit refusal naming limit l of plan.
func wantLimit(t *testing.T, err error, l plans.Limit, plan, label string) {
	t.Helper()
	e := wantCode(t, err, http.StatusPaymentRequired, httperr.CodePlanLimit, label)
	if e.Details["limit"] != string(l) || e.Details["plan"] != plan {
		t.Fatalf("details = %v; want limit %s, plan %s", e.Details, l, plan)
	}
}

func TestReservedDomainsPlanLimit(t *testing.T) {
	svc, db := newLimitedService(t)
	ctx := context.Background()
	ada := newAccount(t, db)
	max := plans.MustGet(plans.Free).Limits[plans.ReservedDomains]
	for i := range max {
		if _, err := svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr(fmt.Sprintf("app%d.example.com", i))}); err != nil {
			t.Fatalf("domain %d of %d: %v", i+1, max, err)
		}
	}
	wantLimit(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("more.example.com")})), plans.ReservedDomains, plans.Free,
		fmt.Sprintf("the Free plan allows %d reserved domains", max))
	// A domain the account has already is refused as such, not as a limit.
	wantCode(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("app0.example.com")})), http.StatusConflict,
		httperr.CodeDomainAlreadyReserved, "already reserved in this account")
	// Another account is not affected; an upgrade lifts the limit.
	if _, err := svc.CreateDomain(ctx, newAccount(t, db), DomainInput{Domain: ptr("other.example.com")}); err != nil {
		t.Fatalf("another account: %v", err)
	}
	setPlan(t, db, ada, plans.Pro)
	if _, err := svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("more.example.com")}); err != nil {
		t.Fatalf("after upgrading: %v", err)
	}
	// Validation still comes first: a bad domain is a validation error, not a limit.
	setPlan(t, db, ada, plans.Free)
	wantCode(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("bad_domain")})), http.StatusBadRequest, httperr.CodeValidation, "")
}

func TestReservedAddrsPlanLimit(t *testing.T) {
	svc, db := newLimitedService(t)
	ctx := context.Background()
	ada := newAccount(t, db)
	max := plans.MustGet(plans.Free).Limits[plans.ReservedAddrs]
	for i := range max {
		if _, err := svc.CreateAddr(ctx, ada, AddrInput{}); err != nil {
			t.Fatalf("address %d of %d: %v", i+1, max, err)
		}
	}
	wantLimit(t, mustFail(svc.CreateAddr(ctx, ada, AddrInput{})), plans.ReservedAddrs, plans.Free,
		fmt.Sprintf("the Free plan allows %d reserved TCP addresses", max))
	setPlan(t, db, ada, plans.Pro)
	if _, err := svc.CreateAddr(ctx, ada, AddrInput{}); err != nil {
		t.Fatalf("after upgrading: %v", err)
	}
}

// TestReservationLimitConcurrent: concurrent creates cannot together exceed the limit.
func TestReservationLimitConcurrent(t *testing.T) {
	svc, db := newLimitedService(t)
	ada := newAccount(t, db)
	for _, tt := range []struct {
		l      plans.Limit
		create func(i int) error
	}{
		{plans.ReservedDomains, func(i int) error {
			_, err := svc.CreateDomain(context.Background(), ada, DomainInput{Domain: ptr(fmt.Sprintf("race%d.example.com", i))})
			return err
		}},
		{plans.ReservedAddrs, func(int) error { _, err := svc.CreateAddr(context.Background(), ada, AddrInput{}); return err }},
	} {
		t.Run(string(tt.l), func(t *testing.T) {
			var (
				wg            sync.WaitGroup
				mu            sync.Mutex
				ok, refused   int
				unexpectedErr []error
			)
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := tt.create(i)
					mu.Lock()
					defer mu.Unlock()
					if e, isErr := httperr.As(err); err == nil {
						ok++
					} else if isErr && e.Code == httperr.CodePlanLimit {
						refused++
					} else {
						unexpectedErr = append(unexpectedErr, err)
					}
				}()
			}
			wg.Wait()
			max := plans.MustGet(plans.Free).Limits[tt.l]
			if len(unexpectedErr) > 0 || ok != max || refused != 6-max {
				t.Fatalf("6 concurrent creates at a limit of %d: %d created, %d refused, errors %v", max, ok, refused, unexpectedErr)
			}
		})
	}
}
