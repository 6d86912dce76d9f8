package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/edgeway/edgeway/bff/ippolicy"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recoverAccess prints a dashboard lockout recovery link for an administrator: the operator's way
// back in when no email can be received. The link works once, from any address, for 15 minutes,
// after the administrator signs in.
func recoverAccess(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bff recover", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", env("EDGEWAY_DATABASE_URL", "")), "PostgreSQL URL (env DATABASE_URL)")
	publicURL := fs.String("public-url", env("EDGEWAY_PUBLIC_URL", ""), "dashboard public URL (env EDGEWAY_PUBLIC_URL; default http://EDGEWAY_HTTP_ADDR)")
	email := fs.String("email", "", "email of an administrator of the locked-out account (required)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: bff recover --email ADDRESS\n\nPrints a single-use link (valid 15 minutes) that lets the administrator turn the\ndashboard IP restriction off or allow their current address, after signing in.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" || strings.TrimSpace(*email) == "" {
		return errors.New("set DATABASE_URL (or -database-url) and --email")
	}
	base := *publicURL
	if base == "" {
		base = "http://" + env("EDGEWAY_HTTP_ADDR", "127.0.0.1:8080")
	}
	if err := applyMigrations(ctx, *dbURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rec := ippolicy.NewRecovery(log, pool, ippolicy.NewCache(ippolicy.NewStore(pool), ippolicy.DefaultRecheck), nil, base)
	link, err := rec.Link(ctx, *email)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", link)
	return nil
}
