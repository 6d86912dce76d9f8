package ippolicy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Policy is a reusable set of rules.
type Policy struct {
	ID          string
	AccountID   string
	Description string
	Metadata    string
	CreatedAt   time.Time
}

// Rule is one allow or deny CIDR of a policy. CIDR is stored normalised (ipmatch.ParseCIDR).
type Rule struct {
	ID          string
	AccountID   string
	PolicyID    string
	CIDR        string
	Action      string
	Description string
	Metadata    string
	CreatedAt   time.Time
}

// Restriction applies policies to one type of traffic of an account.
type Restriction struct {
	ID          string
	AccountID   string
	Type        string
	Enforced    bool
	Description string
	Metadata    string
	CreatedAt   time.Time
	PolicyIDs   []string // in the order given
}

// ErrInUse is returned by DeletePolicy when a restriction still uses the policy.
var ErrInUse = errors.New("in use")

// Store is the SQL of IP policies, rules, restrictions and recovery links.
type Store struct{ db pg.DB }

// NewStore returns a Store on db (a pool or a transaction).
func NewStore(db pg.DB) *Store { return &Store{db: db} }

const (
	policyColumns      = `id, account_id, description, metadata, created_at`
	ruleColumns        = `id, account_id, ip_policy_id, cidr, action, description, metadata, created_at`
	restrictionColumns = `r.id, r.account_id, r.type, r.enforced, r.description, r.metadata, r.created_at,
		array(select ip_policy_id from ip_restriction_policies p where p.ip_restriction_id = r.id order by position)`
)

func one[T any](rows pgx.Rows, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[T])
	return v, pg.Map(err)
}

func many[T any](rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[T])
}

// CreatePolicy inserts a policy.
func (s *Store) CreatePolicy(ctx context.Context, p Policy) (Policy, error) {
	return one[Policy](s.db.Query(ctx, `insert into ip_policies (id, account_id, description, metadata)
		values ($1, $2, $3, $4) returning `+policyColumns, p.ID, p.AccountID, p.Description, p.Metadata))
}

// ListPolicies returns up to limit policies of the account below beforeID (all when ""), newest first.
func (s *Store) ListPolicies(ctx context.Context, accountID, beforeID string, limit int) ([]Policy, error) {
	ps, err := many[Policy](s.db.Query(ctx, `select `+policyColumns+` from ip_policies
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit))
	if err != nil {
		return nil, fmt.Errorf("list ip policies: %w", err)
	}
	return ps, nil
}

// GetPolicy returns one policy of the account.
func (s *Store) GetPolicy(ctx context.Context, accountID, id string) (Policy, error) {
	return one[Policy](s.db.Query(ctx, `select `+policyColumns+` from ip_policies where account_id = $1 and id = $2`, accountID, id))
}

// UpdatePolicy changes description and metadata (nil leaves a field as it is).
func (s *Store) UpdatePolicy(ctx context.Context, accountID, id string, description, metadata *string) (Policy, error) {
	return one[Policy](s.db.Query(ctx, `update ip_policies set description = coalesce($3, description),
		metadata = coalesce($4, metadata) where account_id = $1 and id = $2 returning `+policyColumns,
		accountID, id, description, metadata))
}

// isFKViolation reports whether err is a foreign key violation (SQLSTATE 23503).
func isFKViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// DeletePolicy removes a policy and its rules; ErrInUse when a restriction uses it (checked at
// statement end outside a transaction, at commit inside one: the constraint is deferred).
func (s *Store) DeletePolicy(ctx context.Context, accountID, id string) error {
	tag, err := s.db.Exec(ctx, `delete from ip_policies where account_id = $1 and id = $2`, accountID, id)
	if isFKViolation(err) {
		return ErrInUse
	}
	if err != nil {
		return fmt.Errorf("delete ip policy: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// RestrictionsUsing returns the IDs of the restrictions that use a policy.
func (s *Store) RestrictionsUsing(ctx context.Context, policyID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `select ip_restriction_id from ip_restriction_policies where ip_policy_id = $1 order by 1`, policyID)
	if err != nil {
		return nil, fmt.Errorf("restrictions using policy: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CreateRule inserts a rule; pg.ErrConflict when the policy already has that CIDR.
func (s *Store) CreateRule(ctx context.Context, r Rule) (Rule, error) {
	return one[Rule](s.db.Query(ctx, `insert into ip_policy_rules (id, account_id, ip_policy_id, cidr, action, description, metadata)
		values ($1, $2, $3, $4, $5, $6, $7) returning `+ruleColumns,
		r.ID, r.AccountID, r.PolicyID, r.CIDR, r.Action, r.Description, r.Metadata))
}

// ListRules returns up to limit rules of the account below beforeID, newest first; policyID
// narrows them to one policy when not "".
func (s *Store) ListRules(ctx context.Context, accountID, policyID, beforeID string, limit int) ([]Rule, error) {
	rs, err := many[Rule](s.db.Query(ctx, `select `+ruleColumns+` from ip_policy_rules
		where account_id = $1 and ($2 = '' or ip_policy_id = $2) and ($3 = '' or id < $3) order by id desc limit $4`,
		accountID, policyID, beforeID, limit))
	if err != nil {
		return nil, fmt.Errorf("list ip policy rules: %w", err)
	}
	return rs, nil
}

// RulesOfPolicies returns every rule of the given policies of the account.
func (s *Store) RulesOfPolicies(ctx context.Context, accountID string, policyIDs []string) ([]Rule, error) {
	rs, err := many[Rule](s.db.Query(ctx, `select `+ruleColumns+` from ip_policy_rules
		where account_id = $1 and ip_policy_id = any($2) order by id`, accountID, policyIDs))
	if err != nil {
		return nil, fmt.Errorf("rules of policies: %w", err)
	}
	return rs, nil
}

// GetRule returns one rule of the account.
func (s *Store) GetRule(ctx context.Context, accountID, id string) (Rule, error) {
	return one[Rule](s.db.Query(ctx, `select `+ruleColumns+` from ip_policy_rules where account_id = $1 and id = $2`, accountID, id))
}

// UpdateRule changes a rule's CIDR, description and metadata (nil leaves a field as it is).
func (s *Store) UpdateRule(ctx context.Context, accountID, id string, cidr, description, metadata *string) (Rule, error) {
	return one[Rule](s.db.Query(ctx, `update ip_policy_rules set cidr = coalesce($3, cidr),
		description = coalesce($4, description), metadata = coalesce($5, metadata)
		where account_id = $1 and id = $2 returning `+ruleColumns, accountID, id, cidr, description, metadata))
}

// DeleteRule removes a rule of the account.
func (s *Store) DeleteRule(ctx context.Context, accountID, id string) error {
	tag, err := s.db.Exec(ctx, `delete from ip_policy_rules where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("delete ip policy rule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// CountRules returns how many rules a policy has.
func (s *Store) CountRules(ctx context.Context, policyID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `select count(*) from ip_policy_rules where ip_policy_id = $1`, policyID).Scan(&n)
	return n, err
}

// MissingPolicies returns those of ids that are not policies of the account.
func (s *Store) MissingPolicies(ctx context.Context, accountID string, ids []string) ([]string, error) {
	rows, err := s.db.Query(ctx, `select x from unnest($2::text[]) x
		where not exists (select 1 from ip_policies p where p.account_id = $1 and p.id = x)`, accountID, ids)
	if err != nil {
		return nil, fmt.Errorf("check policies: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CreateRestriction inserts a restriction with its policies; pg.ErrConflict when the account
// already has one of that type.
func (s *Store) CreateRestriction(ctx context.Context, r Restriction) (Restriction, error) {
	_, err := s.db.Exec(ctx, `insert into ip_restrictions (id, account_id, type, enforced, description, metadata)
		values ($1, $2, $3, $4, $5, $6)`, r.ID, r.AccountID, r.Type, r.Enforced, r.Description, r.Metadata)
	if err != nil {
		return Restriction{}, pg.Map(err)
	}
	if err := s.setPolicies(ctx, r.ID, r.PolicyIDs); err != nil {
		return Restriction{}, err
	}
	return s.GetRestriction(ctx, r.AccountID, r.ID)
}

func (s *Store) setPolicies(ctx context.Context, restrictionID string, policyIDs []string) error {
	if _, err := s.db.Exec(ctx, `delete from ip_restriction_policies where ip_restriction_id = $1`, restrictionID); err != nil {
		return fmt.Errorf("clear restriction policies: %w", err)
	}
	_, err := s.db.Exec(ctx, `insert into ip_restriction_policies (ip_restriction_id, ip_policy_id, position)
		select $1, x, n from unnest($2::text[]) with ordinality as t(x, n)`, restrictionID, policyIDs)
	if err != nil {
		return fmt.Errorf("set restriction policies: %w", err)
	}
	return nil
}

// ListRestrictions returns up to limit restrictions of the account below beforeID, newest first.
func (s *Store) ListRestrictions(ctx context.Context, accountID, beforeID string, limit int) ([]Restriction, error) {
	rs, err := many[Restriction](s.db.Query(ctx, `select `+restrictionColumns+` from ip_restrictions r
		where r.account_id = $1 and ($2 = '' or r.id < $2) order by r.id desc limit $3`, accountID, beforeID, limit))
	if err != nil {
		return nil, fmt.Errorf("list ip restrictions: %w", err)
	}
	return rs, nil
}

// GetRestriction returns one restriction of the account.
func (s *Store) GetRestriction(ctx context.Context, accountID, id string) (Restriction, error) {
	return one[Restriction](s.db.Query(ctx, `select `+restrictionColumns+` from ip_restrictions r
		where r.account_id = $1 and r.id = $2`, accountID, id))
}

// RestrictionByType returns the account's restriction of a type.
func (s *Store) RestrictionByType(ctx context.Context, accountID, typ string) (Restriction, error) {
	return one[Restriction](s.db.Query(ctx, `select `+restrictionColumns+` from ip_restrictions r
		where r.account_id = $1 and r.type = $2`, accountID, typ))
}

// UpdateRestriction changes enforcement, description, metadata and policies (nil leaves a field
// as it is).
func (s *Store) UpdateRestriction(ctx context.Context, accountID, id string, enforced *bool, description, metadata *string, policyIDs []string) (Restriction, error) {
	tag, err := s.db.Exec(ctx, `update ip_restrictions set enforced = coalesce($3, enforced),
		description = coalesce($4, description), metadata = coalesce($5, metadata)
		where account_id = $1 and id = $2`, accountID, id, enforced, description, metadata)
	if err != nil {
		return Restriction{}, fmt.Errorf("update ip restriction: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Restriction{}, pg.ErrNotFound
	}
	if policyIDs != nil {
		if err := s.setPolicies(ctx, id, policyIDs); err != nil {
			return Restriction{}, err
		}
	}
	return s.GetRestriction(ctx, accountID, id)
}

// DeleteRestriction removes a restriction of the account.
func (s *Store) DeleteRestriction(ctx context.Context, accountID, id string) error {
	tag, err := s.db.Exec(ctx, `delete from ip_restrictions where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("delete ip restriction: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// Version returns the account's restriction version (0 before any change).
func (s *Store) Version(ctx context.Context, accountID string) (int64, error) {
	var v int64
	err := s.db.QueryRow(ctx, `select coalesce((select version from ip_restriction_versions where account_id = $1), 0)`, accountID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read ip restriction version: %w", err)
	}
	return v, nil
}

// Snapshot is everything needed to enforce an account's restrictions, read consistently.
type Snapshot struct {
	Version      int64
	Restrictions []Restriction
	Rules        []Rule            // of every policy some restriction uses
	Policies     map[string]Policy // those policies
}

// Snapshot reads the account's restrictions, their policies and rules. The version is read first,
// so the rest is at least as new as it: a concurrent change makes the next check reload.
func (s *Store) Snapshot(ctx context.Context, accountID string) (Snapshot, error) {
	var snap Snapshot
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		st := NewStore(tx)
		var err error
		if snap.Version, err = st.Version(ctx, accountID); err != nil {
			return err
		}
		if snap.Restrictions, err = st.ListRestrictions(ctx, accountID, "", 10); err != nil {
			return err
		}
		var ids []string
		for _, r := range snap.Restrictions {
			ids = append(ids, r.PolicyIDs...)
		}
		if snap.Rules, err = st.RulesOfPolicies(ctx, accountID, ids); err != nil {
			return err
		}
		ps, err := many[Policy](tx.Query(ctx, `select `+policyColumns+` from ip_policies where account_id = $1 and id = any($2)`, accountID, ids))
		if err != nil {
			return fmt.Errorf("policies of restrictions: %w", err)
		}
		snap.Policies = make(map[string]Policy, len(ps))
		for _, p := range ps {
			snap.Policies[p.ID] = p
		}
		return nil
	})
	return snap, err
}

// RecoveryToken is a stored lockout recovery link.
type RecoveryToken struct {
	AccountID   string
	UserID      string
	RequestedIP string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
}

// CreateRecoveryToken stores the hash of a recovery link's token.
func (s *Store) CreateRecoveryToken(ctx context.Context, hash []byte, accountID, userID, ip string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `insert into ip_recovery_tokens (token_hash, account_id, user_id, requested_ip, expires_at)
		values ($1, $2, $3, $4, $5)`, hash, accountID, userID, ip, expires)
	if err != nil {
		return fmt.Errorf("insert recovery token: %w", err)
	}
	return nil
}

// RecoveryToken returns a recovery link by the hash of its token, used or not.
func (s *Store) RecoveryToken(ctx context.Context, hash []byte) (RecoveryToken, error) {
	return one[RecoveryToken](s.db.Query(ctx, `select account_id, user_id, requested_ip, created_at, expires_at, used_at
		from ip_recovery_tokens where token_hash = $1`, hash))
}

// UseRecoveryToken marks a live link used, exactly once: pg.ErrNotFound when it is unknown,
// used or expired at now.
func (s *Store) UseRecoveryToken(ctx context.Context, hash []byte, now time.Time) (RecoveryToken, error) {
	return one[RecoveryToken](s.db.Query(ctx, `update ip_recovery_tokens set used_at = $2
		where token_hash = $1 and used_at is null and expires_at > $2
		returning account_id, user_id, requested_ip, created_at, expires_at, used_at`, hash, now))
}

// CountRecoveryTokens returns how many recovery links of the account were issued since a time.
func (s *Store) CountRecoveryTokens(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `select count(*) from ip_recovery_tokens where account_id = $1 and created_at > $2`, accountID, since).Scan(&n)
	return n, err
}

// RecordRecoveryRequest counts a request for a recovery email.
func (s *Store) RecordRecoveryRequest(ctx context.Context, ip, email string) error {
	_, err := s.db.Exec(ctx, `insert into ip_recovery_requests (ip, email) values ($1, $2)`, ip, email)
	return err
}

// CountRecoveryRequests returns the requests since a time from an IP and for an email.
func (s *Store) CountRecoveryRequests(ctx context.Context, ip, email string, since time.Time) (byIP, byEmail int, err error) {
	err = s.db.QueryRow(ctx, `select count(*) filter (where ip = $1), count(*) filter (where lower(email) = lower($2))
		from ip_recovery_requests where created_at > $3 and (ip = $1 or lower(email) = lower($2))`, ip, email, since).Scan(&byIP, &byEmail)
	return byIP, byEmail, err
}

// Admin is an administrator of an account who can receive a recovery link.
type Admin struct {
	UserID string
	Email  string
	Name   string
}

// AccountOfEmail returns the account the user with this email signs in to (their oldest enabled
// membership) and the user's ID.
func (s *Store) AccountOfEmail(ctx context.Context, email string) (accountID, userID string, err error) {
	err = s.db.QueryRow(ctx, `select m.account_id, u.id from users u join memberships m on m.user_id = u.id
		where lower(u.email) = lower($1) and m.disabled_at is null order by m.created_at limit 1`, email).Scan(&accountID, &userID)
	return accountID, userID, pg.Map(err)
}

// Admins returns the enabled administrators of an account.
func (s *Store) Admins(ctx context.Context, accountID string) ([]Admin, error) {
	return many[Admin](s.db.Query(ctx, `select u.id, u.email, u.name from memberships m join users u on u.id = m.user_id
		where m.account_id = $1 and 'admin' = any (m.roles) and m.disabled_at is null order by m.created_at`, accountID))
}

// IsAdmin reports whether the user is an enabled administrator of the account.
func (s *Store) IsAdmin(ctx context.Context, accountID, userID string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from memberships where account_id = $1 and user_id = $2
		and 'admin' = any (roles) and disabled_at is null)`, accountID, userID).Scan(&ok)
	return ok, err
}

// DeleteExpiredRecovery removes recovery links and requests older than before.
func (s *Store) DeleteExpiredRecovery(ctx context.Context, before time.Time) error {
	if _, err := s.db.Exec(ctx, `delete from ip_recovery_tokens where expires_at < $1`, before); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `delete from ip_recovery_requests where created_at < $1`, before)
	return err
}
