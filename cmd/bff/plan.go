package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/jackc/pgx/v5/pgxpool"
)

// setPlan is `bff plan`: an operator moves an account to a plan (there is no payment provider).
func setPlan(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bff plan", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", env("EDGEWAY_DATABASE_URL", "")), "PostgreSQL URL (env DATABASE_URL)")
	account := fs.String("account", "", "account ID (ac_...)")
	email := fs.String("email", "", "instead of -account: the account this user signs in to")
	plan := fs.String("plan", "", "free, pro or enterprise")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" || (*account == "") == (*email == "") || *plan == "" {
		return errors.New("set DATABASE_URL (or -database-url), -plan, and one of -account or -email")
	}
	if err := applyMigrations(ctx, *dbURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	if *email != "" {
		err := pool.QueryRow(ctx, `select m.account_id from memberships m join users u on u.id = m.user_id
			where lower(u.email) = lower($1) order by m.created_at limit 1`, *email).Scan(account)
		if err != nil {
			return fmt.Errorf("find the account of %s: %w", *email, err)
		}
	}
	svc := plans.New(newLogger(slog.LevelWarn, "text"), pool)
	if err := svc.SetPlan(ctx, web.Principal{}, *account, *plan); err != nil {
		return err
	}
	fmt.Printf("account %s is on the %s plan\n", *account, *plan)
	return nil
}
