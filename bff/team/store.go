package team

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Member is a user's membership of an account.
type Member struct {
	UserID     string
	Email      string
	Name       string
	Roles      []string
	JoinedAt   time.Time
	DisabledAt *time.Time
	LastSeenAt *time.Time
}

// Invitation is an invitation by email (never its token).
type Invitation struct {
	ID         string
	AccountID  string
	Email      string
	Roles      []string
	InvitedBy  *string
	CreatedAt  time.Time
	SentAt     time.Time
	ExpiresAt  time.Time
	AcceptedAt *time.Time
	RevokedAt  *time.Time
}

// Store is the SQL of members and invitations. Methods take the DB to run on, so the service
// can compose them in one transaction.
type Store struct{}

const memberColumns = `u.id, u.email, u.name, m.roles, m.created_at, m.disabled_at, u.last_seen_at`

// Members lists the account's members, oldest first.
func (Store) Members(ctx context.Context, db pg.DB, accountID string) ([]Member, error) {
	rows, err := db.Query(ctx, `select `+memberColumns+` from memberships m join users u on u.id = m.user_id
		where m.account_id = $1 order by m.created_at, u.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Member])
}

// Member returns one member, locking the membership until the transaction ends.
func (Store) Member(ctx context.Context, db pg.DB, accountID, userID string) (Member, error) {
	rows, err := db.Query(ctx, `select `+memberColumns+` from memberships m join users u on u.id = m.user_id
		where m.account_id = $1 and m.user_id = $2 for update of m`, accountID, userID)
	if err != nil {
		return Member{}, fmt.Errorf("get member: %w", err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Member])
	return m, pg.Map(err)
}

// IsMember reports whether someone with email belongs to the account.
func (Store) IsMember(ctx context.Context, db pg.DB, accountID, email string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `select exists (select 1 from memberships m join users u on u.id = m.user_id
		where m.account_id = $1 and lower(u.email) = lower($2))`, accountID, email).Scan(&ok)
	return ok, err
}

// OtherActiveAdmins counts the enabled administrators of the account other than userID, locking
// their memberships so two concurrent demotions cannot both pass.
func (Store) OtherActiveAdmins(ctx context.Context, db pg.DB, accountID, userID string) (int, error) {
	rows, err := db.Query(ctx, `select user_id from memberships where account_id = $1 and user_id <> $2
		and 'admin' = any (roles) and disabled_at is null for update`, accountID, userID)
	if err != nil {
		return 0, fmt.Errorf("count admins: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return len(ids), err
}

// LockAccount serialises the team changes of an account until the transaction ends, so rules
// over several memberships (keep an administrator) hold under concurrency without deadlocks.
func (Store) LockAccount(ctx context.Context, db pg.DB, accountID string) error {
	var id string
	err := db.QueryRow(ctx, `select id from accounts where id = $1 for update`, accountID).Scan(&id)
	return pg.Map(err)
}

// SetRoles replaces a member's roles.
func (Store) SetRoles(ctx context.Context, db pg.DB, accountID, userID string, roles []string) error {
	_, err := db.Exec(ctx, `update memberships set roles = $3 where account_id = $1 and user_id = $2`, accountID, userID, roles)
	return err
}

// SetDisabled disables or enables a member; disabling also ends their browser sessions in the account.
func (Store) SetDisabled(ctx context.Context, db pg.DB, accountID, userID string, disabled bool) error {
	if _, err := db.Exec(ctx, `update memberships set disabled_at = case when $3 then now() else null end
		where account_id = $1 and user_id = $2`, accountID, userID, disabled); err != nil {
		return err
	}
	if disabled {
		_, err := db.Exec(ctx, `delete from web_sessions where account_id = $1 and user_id = $2`, accountID, userID)
		return err
	}
	return nil
}

// DeleteMember removes a member from the account with their API keys, authtokens and sessions
// there, and the user too when they belong to no other account. It returns the IDs of the deleted
// authtokens (whose agents must be disconnected).
func (Store) DeleteMember(ctx context.Context, db pg.DB, accountID, userID string) ([]string, error) {
	if _, err := db.Exec(ctx, `delete from api_keys where account_id = $1 and owner_id = $2`, accountID, userID); err != nil {
		return nil, fmt.Errorf("delete api keys: %w", err)
	}
	rows, err := db.Query(ctx, `delete from credentials where account_id = $1 and owner_id = $2 returning id`, accountID, userID)
	if err != nil {
		return nil, fmt.Errorf("delete credentials: %w", err)
	}
	creds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("delete credentials: %w", err)
	}
	if _, err := db.Exec(ctx, `delete from web_sessions where account_id = $1 and user_id = $2`, accountID, userID); err != nil {
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	tag, err := db.Exec(ctx, `delete from memberships where account_id = $1 and user_id = $2`, accountID, userID)
	if err != nil {
		return nil, fmt.Errorf("delete membership: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil, pg.ErrNotFound
	}
	if _, err := db.Exec(ctx, `delete from users where id = $1 and not exists (select 1 from memberships where user_id = $1)`, userID); err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	return creds, nil
}

const invitationColumns = `id, account_id, email, roles, invited_by, created_at, sent_at, expires_at, accepted_at, revoked_at`

// CreateInvitation inserts an invitation with the hash of its token.
func (Store) CreateInvitation(ctx context.Context, db pg.DB, inv Invitation, hash []byte) error {
	_, err := db.Exec(ctx, `insert into invitations (id, account_id, email, roles, token_hash, invited_by, expires_at)
		values ($1, $2, $3, $4, $5, $6, $7)`, inv.ID, inv.AccountID, inv.Email, inv.Roles, hash, inv.InvitedBy, inv.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert invitation: %w", pg.Map(err))
	}
	return nil
}

// PendingInvitations lists the account's invitations not yet accepted or revoked, newest first.
func (Store) PendingInvitations(ctx context.Context, db pg.DB, accountID string) ([]Invitation, error) {
	rows, err := db.Query(ctx, `select `+invitationColumns+` from invitations
		where account_id = $1 and accepted_at is null and revoked_at is null order by id desc`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Invitation])
}

// Invitation returns a pending invitation of the account, locked.
func (Store) Invitation(ctx context.Context, db pg.DB, accountID, id string) (Invitation, error) {
	rows, err := db.Query(ctx, `select `+invitationColumns+` from invitations where account_id = $1 and id = $2
		and accepted_at is null and revoked_at is null for update`, accountID, id)
	if err != nil {
		return Invitation{}, fmt.Errorf("get invitation: %w", err)
	}
	inv, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Invitation])
	return inv, pg.Map(err)
}

// InvitationByHash returns the invitation with this token hash (in any state), locked.
func (Store) InvitationByHash(ctx context.Context, db pg.DB, hash []byte) (Invitation, error) {
	rows, err := db.Query(ctx, `select `+invitationColumns+` from invitations where token_hash = $1 for update`, hash)
	if err != nil {
		return Invitation{}, fmt.Errorf("find invitation: %w", err)
	}
	inv, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Invitation])
	return inv, pg.Map(err)
}

// RenewInvitation gives an invitation a new token and expiry (resend): the old link stops working.
func (Store) RenewInvitation(ctx context.Context, db pg.DB, id string, hash []byte, expires time.Time) error {
	_, err := db.Exec(ctx, `update invitations set token_hash = $2, expires_at = $3, sent_at = now() where id = $1`, id, hash, expires)
	return err
}

// RevokeInvitation ends a pending invitation.
func (Store) RevokeInvitation(ctx context.Context, db pg.DB, id string) error {
	_, err := db.Exec(ctx, `update invitations set revoked_at = now() where id = $1`, id)
	return err
}

// AcceptInvitation marks an invitation used and adds the membership.
func (Store) AcceptInvitation(ctx context.Context, db pg.DB, inv Invitation, userID string) error {
	if _, err := db.Exec(ctx, `update invitations set accepted_at = now() where id = $1`, inv.ID); err != nil {
		return fmt.Errorf("accept invitation: %w", err)
	}
	if _, err := db.Exec(ctx, `insert into memberships (account_id, user_id, roles) values ($1, $2, $3)`,
		inv.AccountID, userID, inv.Roles); err != nil {
		return fmt.Errorf("insert membership: %w", pg.Map(err))
	}
	return nil
}

// InsertUser creates a user (accepting an invitation as a new person).
func (Store) InsertUser(ctx context.Context, db pg.DB, id, email, name, passwordHash string) error {
	_, err := db.Exec(ctx, `insert into users (id, email, name, password_hash) values ($1, $2, $3, $4)`, id, email, name, passwordHash)
	if err != nil {
		return fmt.Errorf("insert user: %w", pg.Map(err))
	}
	return nil
}

// AccountName returns the account's name.
func (Store) AccountName(ctx context.Context, db pg.DB, accountID string) (string, error) {
	var name string
	err := db.QueryRow(ctx, `select name from accounts where id = $1`, accountID).Scan(&name)
	return name, pg.Map(err)
}
