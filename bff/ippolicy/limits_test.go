package ippolicy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/jackc/pgx/v5/pgxpool"
)

// setupLimited is setup with the plans' limits enforced (the account is on the free plan).
func setupLimited(t *testing.T) (*Service, *pgxpool.Pool, web.Principal) {
	t.Helper()
	_, db, p := setup(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewService(log, db, NewCache(NewStore(db), 50*time.Millisecond), plans.New(log, db)), db, p
}

func setPlan(t *testing.T, db *pgxpool.Pool, p web.Principal, plan string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `update accounts set plan = $2 where id = $1`, p.AccountID, plan); err != nil {
		t.Fatal(err)
	}
}

// wantLimit fails unless err is the plan-limit refusal naming limit l of the free plan in msg.
func wantLimit(t *testing.T, err error, l plans.Limit, msg string) {
	t.Helper()
	e, ok := httperr.As(err)
	if !ok || e.Status != http.StatusPaymentRequired || e.Code != httperr.CodePlanLimit || !strings.Contains(e.Msg, msg) ||
		e.Details["limit"] != string(l) || e.Details["plan"] != plans.Free {
		t.Fatalf("error = %v (%+v); want 402 %s naming %s and containing %q", err, e, httperr.CodePlanLimit, l, msg)
	}
}

func TestIPPoliciesPlanLimit(t *testing.T) {
	svc, db, p := setupLimited(t)
	ctx := context.Background()
	max := plans.MustGet(plans.Free).Limits[plans.IPPolicies]
	for i := range max {
		if _, err := svc.CreatePolicy(ctx, p, PolicyInput{Description: ptr(fmt.Sprintf("office %d", i))}); err != nil {
			t.Fatalf("policy %d of %d: %v", i+1, max, err)
		}
	}
	wantLimit(t, mustErr(svc.CreatePolicy(ctx, p, PolicyInput{Description: ptr("one more")})), plans.IPPolicies,
		fmt.Sprintf("the Free plan allows %d IP policies", max))
	if ps, _ := svc.ListPolicies(ctx, p, "", 100); len(ps) != max {
		t.Fatalf("%d policies after the refusal, want %d", len(ps), max)
	}
	setPlan(t, db, p, plans.Pro)
	if _, err := svc.CreatePolicy(ctx, p, PolicyInput{Description: ptr("one more")}); err != nil {
		t.Fatalf("after upgrading: %v", err)
	}
}

func TestIPRestrictionsPlanLimit(t *testing.T) {
	svc, db, p := setupLimited(t)
	ctx := context.Background()
	pol, err := svc.CreatePolicy(ctx, p, PolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	max := plans.MustGet(plans.Free).Limits[plans.IPRestrictions]
	if max >= len(Types) {
		t.Skipf("the free plan allows a restriction of every type (%d)", max)
	}
	for _, typ := range Types[:max] {
		if _, err := svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(typ), PolicyIDs: []string{pol.ID}}); err != nil {
			t.Fatalf("restriction %s: %v", typ, err)
		}
	}
	next := Types[max]
	wantLimit(t, mustErr(svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(next), PolicyIDs: []string{pol.ID}})),
		plans.IPRestrictions, fmt.Sprintf("the Free plan allows %d IP restrictions", max))
	// A second restriction of a type the account has is refused as such, not as a limit.
	e, _ := httperr.As(mustErr(svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(Types[0]), PolicyIDs: []string{pol.ID}})))
	if e == nil || e.Code != httperr.CodeIPRestrictionTypeTaken {
		t.Fatalf("same type again = %v; want %s", e, httperr.CodeIPRestrictionTypeTaken)
	}
	// Changing an existing restriction is not creating one.
	existing, err := svc.store.RestrictionByType(ctx, p.AccountID, Types[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateRestriction(ctx, p, SelfCheck{}, existing.ID, RestrictionInput{Enforced: ptr(true)}); err != nil {
		t.Fatalf("update at the limit: %v", err)
	}
	setPlan(t, db, p, plans.Pro)
	if _, err := svc.CreateRestriction(ctx, p, SelfCheck{}, RestrictionInput{Type: ptr(next), PolicyIDs: []string{pol.ID}}); err != nil {
		t.Fatalf("after upgrading: %v", err)
	}
}

// TestIPPolicyLimitConcurrent: concurrent creates cannot together exceed the limit.
func TestIPPolicyLimitConcurrent(t *testing.T) {
	svc, _, p := setupLimited(t)
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		ok, refused int
		other       []error
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.CreatePolicy(context.Background(), p, PolicyInput{})
			mu.Lock()
			defer mu.Unlock()
			if e, isErr := httperr.As(err); err == nil {
				ok++
			} else if isErr && e.Code == httperr.CodePlanLimit {
				refused++
			} else {
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	max := plans.MustGet(plans.Free).Limits[plans.IPPolicies]
	if len(other) > 0 || ok != max || refused != 6-max {
		t.Fatalf("6 concurrent creates at a limit of %d: %d created, %d refused, errors %v", max, ok, refused, other)
	}
}

// mustErr returns the error of a call that returned a value too.
func mustErr[T any](_ T, err error) error { return err }
