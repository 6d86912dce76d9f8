package reservations

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Domain is a reserved domain.
type Domain struct {
	ID          string    `db:"id"`
	AccountID   string    `db:"account_id"`
	Domain      string    `db:"domain"`
	Region      string    `db:"region"`
	Description string    `db:"description"`
	Metadata    string    `db:"metadata"`
	CreatedAt   time.Time `db:"created_at"`
}

// Addr is a reserved TCP address.
type Addr struct {
	ID          string    `db:"id"`
	AccountID   string    `db:"account_id"`
	Addr        string    `db:"addr"` // host:port
	Region      string    `db:"region"`
	Description string    `db:"description"`
	Metadata    string    `db:"metadata"`
	CreatedAt   time.Time `db:"created_at"`
}

// Store is the SQL of reserved domains and addresses.
type Store struct{ db pg.DB }

// NewStore returns a Store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db} }

const (
	domainColumns = `id, account_id, domain, region, description, metadata, created_at`
	addrColumns   = `id, account_id, addr, region, description, metadata, created_at`
)

func one[T any](rows pgx.Rows, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, pg.Map(err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[T])
	return v, pg.Map(err)
}

func all[T any](what string, rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// CreateDomain inserts a reserved domain; a domain reserved already (by any account) is
// pg.ErrConflict.
func (s *Store) CreateDomain(ctx context.Context, d Domain) (Domain, error) {
	return one[Domain](s.db.Query(ctx, `insert into reserved_domains (id, account_id, domain, region, description, metadata)
		values ($1, $2, $3, $4, $5, $6) returning `+domainColumns,
		d.ID, d.AccountID, d.Domain, d.Region, d.Description, d.Metadata))
}

// ListDomains returns up to limit domains of the account below beforeID (all when ""), newest first.
func (s *Store) ListDomains(ctx context.Context, accountID, beforeID string, limit int) ([]Domain, error) {
	rows, err := s.db.Query(ctx, `select `+domainColumns+` from reserved_domains
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	return all[Domain]("list reserved domains", rows, err)
}

// GetDomain returns one domain of the account.
func (s *Store) GetDomain(ctx context.Context, accountID, id string) (Domain, error) {
	return one[Domain](s.db.Query(ctx, `select `+domainColumns+` from reserved_domains where account_id = $1 and id = $2`, accountID, id))
}

// UpdateDomain changes description and metadata (nil leaves a field as it is).
func (s *Store) UpdateDomain(ctx context.Context, accountID, id string, description, metadata *string) (Domain, error) {
	return one[Domain](s.db.Query(ctx, `update reserved_domains set description = coalesce($3, description),
		metadata = coalesce($4, metadata) where account_id = $1 and id = $2 returning `+domainColumns,
		accountID, id, description, metadata))
}

// DeleteDomain removes a domain of the account.
func (s *Store) DeleteDomain(ctx context.Context, accountID, id string) error {
	return deleteRow(ctx, s.db, "reserved_domains", accountID, id)
}

// DomainsByName returns the reservations, of any account, of the given lower-case domains.
func (s *Store) DomainsByName(ctx context.Context, domains []string) ([]Domain, error) {
	rows, err := s.db.Query(ctx, `select `+domainColumns+` from reserved_domains where lower(domain) = any($1)`, domains)
	return all[Domain]("find reserved domains", rows, err)
}

// CreateAddr inserts a reserved address; an address reserved already is pg.ErrConflict.
func (s *Store) CreateAddr(ctx context.Context, a Addr) (Addr, error) {
	return one[Addr](s.db.Query(ctx, `insert into reserved_addrs (id, account_id, addr, region, description, metadata)
		values ($1, $2, $3, $4, $5, $6) returning `+addrColumns,
		a.ID, a.AccountID, a.Addr, a.Region, a.Description, a.Metadata))
}

// ListAddrs returns up to limit addresses of the account below beforeID (all when ""), newest first.
func (s *Store) ListAddrs(ctx context.Context, accountID, beforeID string, limit int) ([]Addr, error) {
	rows, err := s.db.Query(ctx, `select `+addrColumns+` from reserved_addrs
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	return all[Addr]("list reserved addrs", rows, err)
}

// GetAddr returns one address of the account.
func (s *Store) GetAddr(ctx context.Context, accountID, id string) (Addr, error) {
	return one[Addr](s.db.Query(ctx, `select `+addrColumns+` from reserved_addrs where account_id = $1 and id = $2`, accountID, id))
}

// UpdateAddr changes description and metadata (nil leaves a field as it is).
func (s *Store) UpdateAddr(ctx context.Context, accountID, id string, description, metadata *string) (Addr, error) {
	return one[Addr](s.db.Query(ctx, `update reserved_addrs set description = coalesce($3, description),
		metadata = coalesce($4, metadata) where account_id = $1 and id = $2 returning `+addrColumns,
		accountID, id, description, metadata))
}

// DeleteAddr removes an address of the account.
func (s *Store) DeleteAddr(ctx context.Context, accountID, id string) error {
	return deleteRow(ctx, s.db, "reserved_addrs", accountID, id)
}

// AddrsByName returns the reservations, of any account, of the given lower-case addresses.
func (s *Store) AddrsByName(ctx context.Context, addrs []string) ([]Addr, error) {
	rows, err := s.db.Query(ctx, `select `+addrColumns+` from reserved_addrs where lower(addr) = any($1)`, addrs)
	return all[Addr]("find reserved addrs", rows, err)
}

// AddrsOnHost returns every reserved address (of any account) whose host is host.
func (s *Store) AddrsOnHost(ctx context.Context, host string) ([]string, error) {
	rows, err := s.db.Query(ctx, `select addr from reserved_addrs where lower(addr) like $1 escape '\'`,
		likeEscape(strings.ToLower(net.JoinHostPort(host, "")))+"%")
	if err != nil {
		return nil, fmt.Errorf("list reserved addrs on %s: %w", host, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// likeEscape escapes the wildcards of a LIKE pattern.
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace

// deleteRow deletes one row of table (a constant) that belongs to the account.
func deleteRow(ctx context.Context, db pg.DB, table, accountID, id string) error {
	tag, err := db.Exec(ctx, `delete from `+table+` where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return fmt.Errorf("delete from %s: %w", table, err)
	}
	if tag.RowsAffected() == 0 {
		return pg.ErrNotFound
	}
	return nil
}
