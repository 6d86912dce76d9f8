package apikeys

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Key is a stored API key (never its secret).
type Key struct {
	ID          string
	AccountID   string
	OwnerID     string
	TokenPrefix string
	Description string
	Metadata    string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
}

// Store is the SQL of API keys.
type Store struct{ db pg.DB }

// NewStore returns a Store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db} }

const columns = `id, account_id, owner_id, token_prefix, description, metadata, created_at, last_used_at`

// Create inserts a key with the hash of its secret.
func (s *Store) Create(ctx context.Context, k Key, hash []byte) error {
	_, err := s.db.Exec(ctx, `insert into api_keys (id, account_id, owner_id, token_hash, token_prefix, description, metadata)
		values ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.AccountID, k.OwnerID, hash, k.TokenPrefix, k.Description, k.Metadata)
	if err != nil {
		return fmt.Errorf("insert api key: %w", pg.Map(err))
	}
	return nil
}

// List returns up to limit keys of the account with IDs below beforeID (all when ""), newest first.
func (s *Store) List(ctx context.Context, accountID, beforeID string, limit int) ([]Key, error) {
	rows, err := s.db.Query(ctx, `select `+columns+` from api_keys
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Key])
}

// Get returns one key of the account.
func (s *Store) Get(ctx context.Context, accountID, id string) (Key, error) {
	rows, err := s.db.Query(ctx, `select `+columns+` from api_keys where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return Key{}, fmt.Errorf("get api key: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Key])
	return k, pg.Map(err)
}

// Update changes the description and metadata (nil leaves a field as it is).
func (s *Store) Update(ctx context.Context, accountID, id string, description, metadata *string) (Key, error) {
	rows, err := s.db.Query(ctx, `update api_keys set description = coalesce($3, description), metadata = coalesce($4, metadata)
		where account_id = $1 and id = $2 returning `+columns, accountID, id, description, metadata)
	if err != nil {
		return Key{}, fmt.Errorf("update api key: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Key])
	return k, pg.Map(err)
}

// Delete removes a key of the account.
func (s *Store) Delete(ctx context.Context, accountID, id string) error {
	tag, err := s.db.Exec(ctx, `delete from api_keys where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// ByHash finds the key with this secret hash, recording its use.
func (s *Store) ByHash(ctx context.Context, hash []byte) (Key, error) {
	rows, err := s.db.Query(ctx, `update api_keys set last_used_at = now() where token_hash = $1 returning `+columns, hash)
	if err != nil {
		return Key{}, fmt.Errorf("find api key: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Key])
	return k, pg.Map(err)
}
