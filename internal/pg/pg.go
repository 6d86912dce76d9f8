// Package pg holds the small helpers every store shares: the interface that both a pool and a
// transaction satisfy, error mapping, and transactions.
package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is what stores take: *pgxpool.Pool, *pgxpool.Conn and pgx.Tx all satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (pgx.Tx)(nil)
)

// ErrNotFound is returned by stores when no row matched.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by stores when a unique constraint was violated.
var ErrConflict = errors.New("conflict")

// Map turns pgx.ErrNoRows into ErrNotFound and SQLSTATE 23505 into ErrConflict (wrapping the
// original so the constraint name stays visible in logs); other errors pass unchanged.
func Map(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrConflict, pgErr.ConstraintName)
	}
	return err
}

// ConstraintName returns the violated constraint of a unique violation, or "".
func ConstraintName(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// InTx runs fn in a transaction on db, committing when fn returns nil.
func InTx(ctx context.Context, db DB, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, fn)
}
