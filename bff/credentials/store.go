package credentials

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Credential is a stored authtoken (never its secret).
type Credential struct {
	ID          string
	AccountID   string
	OwnerID     *string
	TokenPrefix string
	Description string
	Metadata    string
	ACL         []string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
}

// Store is the SQL of credentials.
type Store struct{ db pg.DB }

// NewStore returns a Store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db} }

const columns = `id, account_id, owner_id, token_prefix, description, metadata, acl, created_at, last_used_at`

func one(rows pgx.Rows, err error) (Credential, error) {
	if err != nil {
		return Credential{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Credential])
	return c, pg.Map(err)
}

// Create inserts a credential with the hash of its token.
func (s *Store) Create(ctx context.Context, c Credential, hash []byte) (Credential, error) {
	return one(s.db.Query(ctx, `insert into credentials (id, account_id, owner_id, token_hash, token_prefix, description, metadata, acl)
		values ($1, $2, $3, $4, $5, $6, $7, $8) returning `+columns,
		c.ID, c.AccountID, c.OwnerID, hash, c.TokenPrefix, c.Description, c.Metadata, c.ACL))
}

// List returns up to limit credentials of the account below beforeID (all when ""), newest first.
func (s *Store) List(ctx context.Context, accountID, beforeID string, limit int) ([]Credential, error) {
	rows, err := s.db.Query(ctx, `select `+columns+` from credentials
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Credential])
}

// Get returns one credential of the account.
func (s *Store) Get(ctx context.Context, accountID, id string) (Credential, error) {
	return one(s.db.Query(ctx, `select `+columns+` from credentials where account_id = $1 and id = $2`, accountID, id))
}

// Update changes description, metadata and ACL (nil leaves a field as it is).
func (s *Store) Update(ctx context.Context, accountID, id string, description, metadata *string, acl []string) (Credential, error) {
	return one(s.db.Query(ctx, `update credentials set description = coalesce($3, description),
		metadata = coalesce($4, metadata), acl = coalesce($5, acl)
		where account_id = $1 and id = $2 returning `+columns, accountID, id, description, metadata, acl))
}

// Delete removes a credential of the account.
func (s *Store) Delete(ctx context.Context, accountID, id string) error {
	tag, err := s.db.Exec(ctx, `delete from credentials where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("delete credential: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// ByHash finds the credential with this token hash, recording its use.
func (s *Store) ByHash(ctx context.Context, hash []byte) (Credential, error) {
	return one(s.db.Query(ctx, `update credentials set last_used_at = now() where token_hash = $1 returning `+columns, hash))
}
