package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Store is all SQL of accounts, users, memberships, web sessions and login throttling.
type Store struct{ db pg.DB }

// NewStore returns a Store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db} }

// Account is a customer account.
type Account struct {
	ID        string
	Name      string
	Plan      string
	CreatedAt time.Time
}

// User is a person who signs in.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
}

// Membership is a user's place in an account.
type Membership struct {
	AccountID string
	UserID    string
	Roles     []string
}

// Viewer is the user and account behind a browser session or an API key.
type Viewer struct {
	UserID      string
	Email       string
	Name        string
	AccountID   string
	AccountName string
	Plan        string
	Roles       []string
}

// CreateAccount inserts an account, its first user and the membership, all or nothing.
func (s *Store) CreateAccount(ctx context.Context, a Account, u User, roles []string) error {
	return pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into accounts (id, name, plan) values ($1, $2, $3)`, a.ID, a.Name, a.Plan); err != nil {
			return fmt.Errorf("insert account: %w", pg.Map(err))
		}
		if _, err := tx.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, $2, $3, $4)`,
			u.ID, u.Email, u.Name, u.PasswordHash); err != nil {
			return fmt.Errorf("insert user: %w", pg.Map(err))
		}
		if _, err := tx.Exec(ctx, `insert into memberships (account_id, user_id, roles) values ($1, $2, $3)`,
			a.ID, u.ID, roles); err != nil {
			return fmt.Errorf("insert membership: %w", pg.Map(err))
		}
		return nil
	})
}

// UserByEmail finds a user by email, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	rows, err := s.db.Query(ctx, `select id, email, name, password_hash, created_at from users where lower(email) = lower($1)`, email)
	if err != nil {
		return User{}, fmt.Errorf("query user: %w", err)
	}
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[User])
	return u, pg.Map(err)
}

// SetPassword replaces a user's password hash and ends their sessions.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	return pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update users set password_hash = $2 where id = $1`, userID, hash); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		_, err := tx.Exec(ctx, `delete from web_sessions where user_id = $1`, userID)
		return err
	})
}

// FirstMembership returns the user's oldest enabled membership: the account a fresh sign-in opens.
func (s *Store) FirstMembership(ctx context.Context, userID string) (Membership, error) {
	rows, err := s.db.Query(ctx, `select account_id, user_id, roles from memberships
		where user_id = $1 and disabled_at is null order by created_at limit 1`, userID)
	if err != nil {
		return Membership{}, fmt.Errorf("query membership: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Membership])
	return m, pg.Map(err)
}

const viewerColumns = `u.id, u.email, u.name, a.id, a.name, a.plan, m.roles`

// CreateSession stores a web session under the hash of its token.
func (s *Store) CreateSession(ctx context.Context, hash []byte, userID, accountID string, expires time.Time, ip, ua string) error {
	_, err := s.db.Exec(ctx, `insert into web_sessions (token_hash, user_id, account_id, expires_at, ip, user_agent)
		values ($1, $2, $3, $4, $5, $6)`, hash, userID, accountID, expires, ip, ua)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// SessionViewer resolves a live session of an enabled member to its viewer and when it was last seen.
func (s *Store) SessionViewer(ctx context.Context, hash []byte) (Viewer, time.Time, error) {
	var v Viewer
	var seen time.Time
	err := s.db.QueryRow(ctx, `select `+viewerColumns+`, ws.last_seen_at
		from web_sessions ws
		join users u on u.id = ws.user_id
		join accounts a on a.id = ws.account_id
		join memberships m on m.account_id = ws.account_id and m.user_id = ws.user_id
		where ws.token_hash = $1 and ws.expires_at > now() and m.disabled_at is null`, hash).
		Scan(&v.UserID, &v.Email, &v.Name, &v.AccountID, &v.AccountName, &v.Plan, &v.Roles, &seen)
	return v, seen, pg.Map(err)
}

// TouchSession records activity on a session and slides its expiry.
func (s *Store) TouchSession(ctx context.Context, hash []byte, expires time.Time) error {
	_, err := s.db.Exec(ctx, `with s as (
			update web_sessions set last_seen_at = now(), expires_at = $2 where token_hash = $1 returning user_id)
		update users set last_seen_at = now() where id in (select user_id from s)`, hash, expires)
	return err
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.db.Exec(ctx, `delete from web_sessions where token_hash = $1`, hash)
	return err
}

// DeleteExpiredSessions removes sessions past their expiry and old login failures.
func (s *Store) DeleteExpiredSessions(ctx context.Context, failuresBefore time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `delete from web_sessions where expires_at < now()`)
	if err != nil {
		return 0, err
	}
	if _, err := s.db.Exec(ctx, `delete from login_failures where created_at < $1`, failuresBefore); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// RecordLoginFailure notes a failed sign-in from ip for email.
func (s *Store) RecordLoginFailure(ctx context.Context, ip, email string) error {
	_, err := s.db.Exec(ctx, `insert into login_failures (ip, email) values ($1, $2)`, ip, email)
	return err
}

// LoginFailures counts failures since a time, from ip and for email, and the oldest of each
// (to tell the person when they may try again).
type LoginFailures struct {
	ByIP, ByEmail             int
	OldestByIP, OldestByEmail time.Time
}

// CountLoginFailures counts recent failures from ip and for email.
func (s *Store) CountLoginFailures(ctx context.Context, ip, email string, since time.Time) (LoginFailures, error) {
	var f LoginFailures
	var oldIP, oldEmail *time.Time
	err := s.db.QueryRow(ctx, `select
			count(*) filter (where ip = $1), min(created_at) filter (where ip = $1),
			count(*) filter (where lower(email) = lower($2)), min(created_at) filter (where lower(email) = lower($2))
		from login_failures where created_at > $3 and (ip = $1 or lower(email) = lower($2))`, ip, email, since).
		Scan(&f.ByIP, &oldIP, &f.ByEmail, &oldEmail)
	if oldIP != nil {
		f.OldestByIP = *oldIP
	}
	if oldEmail != nil {
		f.OldestByEmail = *oldEmail
	}
	return f, err
}

// ClearLoginFailures forgets the failures for email after a successful sign-in.
func (s *Store) ClearLoginFailures(ctx context.Context, email string) error {
	_, err := s.db.Exec(ctx, `delete from login_failures where lower(email) = lower($1)`, email)
	return err
}

// ViewerByUser builds the viewer of an enabled member of an account (for API keys).
func (s *Store) ViewerByUser(ctx context.Context, userID, accountID string) (Viewer, error) {
	var v Viewer
	err := s.db.QueryRow(ctx, `select `+viewerColumns+` from memberships m
		join users u on u.id = m.user_id join accounts a on a.id = m.account_id
		where m.user_id = $1 and m.account_id = $2 and m.disabled_at is null`, userID, accountID).
		Scan(&v.UserID, &v.Email, &v.Name, &v.AccountID, &v.AccountName, &v.Plan, &v.Roles)
	return v, pg.Map(err)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRow(ctx, `select 1`).Scan(&one)
}
