package plans

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Counter counts an account's use of one limit, on db (a pool or the caller's transaction).
type Counter func(ctx context.Context, db pg.DB, accountID string) (int, error)

// Service reads accounts' plans and usage, checks limits and changes plans.
type Service struct {
	log      *slog.Logger
	db       pg.DB
	counters map[Limit]Counter
}

// New returns a Service counting usage with the default counters (see DefaultCounters).
func New(log *slog.Logger, db pg.DB) *Service {
	return &Service{log: log, db: db, counters: DefaultCounters()}
}

// SetCounter replaces how l is counted (for a domain whose table is not a plain account_id count).
func (s *Service) SetCounter(l Limit, c Counter) { s.counters[l] = c }

// DefaultCounters counts users as members plus pending, unexpired invitations, and every other
// limit as the rows of its table with the account's id. A table that does not exist yet counts 0.
func DefaultCounters() map[Limit]Counter {
	return map[Limit]Counter{
		Users: func(ctx context.Context, db pg.DB, accountID string) (int, error) {
			var n int
			err := db.QueryRow(ctx, `select (select count(*) from memberships where account_id = $1)
				+ (select count(*) from invitations where account_id = $1 and accepted_at is null
					and revoked_at is null and expires_at > now())`, accountID).Scan(&n)
			return n, err
		},
		AgentSessions:      tableCounter("tunnel_sessions"),
		ReservedDomains:    tableCounter("reserved_domains"),
		ReservedAddrs:      tableCounter("reserved_addrs"),
		IPPolicies:         tableCounter("ip_policies"),
		IPRestrictions:     tableCounter("ip_restrictions"),
		EventSubscriptions: tableCounter("event_subscriptions"),
		BillingContacts:    tableCounter("billing_contacts"),
	}
}

func tableCounter(table string) Counter {
	return func(ctx context.Context, db pg.DB, accountID string) (int, error) {
		var exists bool
		if err := db.QueryRow(ctx, `select to_regclass($1) is not null`, "public."+table).Scan(&exists); err != nil {
			return 0, fmt.Errorf("look for table %s: %w", table, err)
		}
		if !exists {
			return 0, nil
		}
		var n int
		// table is one of the constant names above, never input.
		err := db.QueryRow(ctx, `select count(*) from `+table+` where account_id = $1`, accountID).Scan(&n)
		return n, err
	}
}

// Account is an account's plan, its limits and what it uses of them.
type Account struct {
	ID    string
	Name  string
	Plan  Plan
	Usage map[Limit]int
}

// Account returns the account's plan and usage.
func (s *Service) Account(ctx context.Context, accountID string) (Account, error) {
	var a Account
	var plan string
	err := s.db.QueryRow(ctx, `select id, name, plan from accounts where id = $1`, accountID).Scan(&a.ID, &a.Name, &plan)
	if err != nil {
		return Account{}, fmt.Errorf("load account %s: %w", accountID, pg.Map(err))
	}
	a.Plan = MustGet(plan)
	a.Usage = make(map[Limit]int, len(Limits))
	for _, l := range Limits {
		n, err := s.counters[l](ctx, s.db, accountID)
		if err != nil {
			return Account{}, fmt.Errorf("count %s: %w", l, err)
		}
		a.Usage[l] = n
	}
	return a, nil
}

// Check returns nil when the account may add one more of l, and a LimitError naming the limit
// otherwise. Call CheckTx instead inside the transaction that adds the row, so two concurrent
// requests cannot both take the last one.
func (s *Service) Check(ctx context.Context, accountID string, l Limit) error {
	return s.CheckTx(ctx, s.db, accountID, l)
}

// CheckTx is Check on db (the caller's transaction). It locks the account row, serialising
// concurrent checks of the same account until the transaction ends.
func (s *Service) CheckTx(ctx context.Context, db pg.DB, accountID string, l Limit) error {
	count, ok := s.counters[l]
	if !ok {
		return httperr.Internal(fmt.Errorf("unknown plan limit %q", l))
	}
	var plan string
	if err := db.QueryRow(ctx, `select plan from accounts where id = $1 for update`, accountID).Scan(&plan); err != nil {
		return httperr.Internal(fmt.Errorf("load plan of %s: %w", accountID, err))
	}
	used, err := count(ctx, db, accountID)
	if err != nil {
		return httperr.Internal(fmt.Errorf("count %s: %w", l, err))
	}
	if used+1 > MustGet(plan).Limits[l] {
		return LimitError(plan, l, used)
	}
	return nil
}

// RequirePaid returns PaidPlanRequired(feature) unless the account is on a paid plan.
func (s *Service) RequirePaid(ctx context.Context, db pg.DB, accountID, feature string) error {
	var plan string
	if err := db.QueryRow(ctx, `select plan from accounts where id = $1`, accountID).Scan(&plan); err != nil {
		return httperr.Internal(fmt.Errorf("load plan of %s: %w", accountID, err))
	}
	if !MustGet(plan).Paid {
		return PaidPlanRequired(feature)
	}
	return nil
}

// SetPlan moves the account to plan on behalf of by (an audit event records it; an operator
// command passes a principal with only AccountID). Moving to a plan whose limits the account
// already exceeds is refused with every limit named, so nothing is silently over its limit.
func (s *Service) SetPlan(ctx context.Context, by web.Principal, accountID, plan string) error {
	p, ok := Get(plan)
	if !ok {
		names := make([]string, len(Plans))
		for i, p := range Plans {
			names[i] = p.Name
		}
		msg := fmt.Sprintf("plan must be one of %s, not %q.", strings.Join(names, ", "), plan)
		return httperr.Validation(msg, map[string]string{"plan": msg})
	}
	return pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		var current string
		if err := tx.QueryRow(ctx, `select plan from accounts where id = $1 for update`, accountID).Scan(&current); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return httperr.NotFound("Account " + accountID)
			}
			return httperr.Internal(err)
		}
		var over []string
		for _, l := range Limits {
			n, err := s.counters[l](ctx, tx, accountID)
			if err != nil {
				return httperr.Internal(fmt.Errorf("count %s: %w", l, err))
			}
			if n > p.Limits[l] {
				over = append(over, fmt.Sprintf("%s (%d, the plan allows %d)", lowerLabel(l), n, p.Limits[l]))
			}
		}
		if len(over) > 0 {
			sort.Strings(over)
			e := httperr.New(http.StatusConflict, httperr.CodePlanLimit, fmt.Sprintf(
				"The account uses more than the %s plan allows: %s. Remove some first.", p.Label, strings.Join(over, "; ")))
			e.Details = map[string]any{"plan": p.Name}
			return e
		}
		if _, err := tx.Exec(ctx, `update accounts set plan = $2 where id = $1`, accountID, p.Name); err != nil {
			return httperr.Internal(err)
		}
		by.AccountID = accountID
		if err := audit.Write(ctx, tx, by, audit.AccountPlanUpdated, accountID, map[string]any{
			"id": accountID, "plan": p.Name, "previous_plan": current}); err != nil {
			return httperr.Internal(err)
		}
		s.log.InfoContext(ctx, "plan changed", "account_id", accountID, "from", current, "to", p.Name)
		return nil
	})
}
