// Command bff runs the Edgeway dashboard and API (serve), applies migrations (migrate) and seeds
// a demo account (seed) and prints dashboard IP-lockout recovery links (recover).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/server"
	"github.com/edgeway/edgeway/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const usage = `usage: bff [command] [flags]

commands:
  serve     run the dashboard and the API (default)
  migrate   apply database migrations (-to N to migrate up or down to version N)
  seed      create a demo account and administrator if the email is not registered yet
  recover   print a dashboard IP-lockout recovery link for an administrator (--email ADDRESS)
  plan      move an account to a plan: -plan free|pro|enterprise and -account ID or -email E

Run "bff serve -h" for the configuration flags; each has an environment variable.
`

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args)
	case "migrate":
		err = migrate(ctx, args)
	case "seed":
		err = seed(ctx, args)
	case "recover":
		err = recoverAccess(ctx, args, os.Stdout)
	case "plan":
		err = setPlan(ctx, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "bff: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bff %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func newLogger(level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(ctx context.Context, args []string) error {
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	if err := applyMigrations(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	srv, err := server.New(server.Config{PublicURL: cfg.PublicURL, APIURL: cfg.APIURL, CookieSecure: cfg.CookieSecure,
		TrustedProxies: cfg.TrustedProxies, BodyLimit: cfg.BodyLimit, AuthPolicy: auth.DefaultPolicy, Edges: cfg.Regions,
		EdgeToken: cfg.EdgeToken, StaleGrace: cfg.StaleGrace, SMTPAddr: cfg.SMTPAddr, SMTPFrom: cfg.SMTPFrom}, log, pool)
	if err != nil {
		return err
	}
	dash, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen dashboard: %w", err)
	}
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen api: %w", err)
	}
	ctlLn, err := net.Listen("tcp", cfg.ControlAddr)
	if err != nil {
		return fmt.Errorf("listen control: %w", err)
	}
	if cfg.ControlCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ControlCert, cfg.ControlKey)
		if err != nil {
			return fmt.Errorf("load control TLS certificate: %w", err)
		}
		ctlLn = tls.NewListener(ctlLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	log.Info("bff listening", "dashboard", cfg.PublicURL, "dashboard_addr", dash.Addr().String(),
		"api", cfg.APIURL, "api_addr", apiLn.Addr().String(), "control_addr", ctlLn.Addr().String(), "control_tls", cfg.ControlCert != "")
	return srv.Serve(ctx, dash, apiLn, ctlLn)
}

func applyMigrations(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.Background())
	return migrations.Up(ctx, conn)
}

func migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bff migrate", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", env("EDGEWAY_DATABASE_URL", "")), "PostgreSQL URL (env DATABASE_URL)")
	to := fs.Int("to", -1, "migrate up or down to this version (default: the latest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("set DATABASE_URL or -database-url")
	}
	conn, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.Background())
	if *to < 0 {
		if err := migrations.Up(ctx, conn); err != nil {
			return err
		}
	} else if err := migrations.To(ctx, conn, int32(*to)); err != nil {
		return err
	}
	m, err := migrations.Migrator(ctx, conn)
	if err != nil {
		return err
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("database at migration version %d of %d\n", v, len(m.Migrations))
	return nil
}

func seed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bff seed", flag.ContinueOnError)
	dbURL := fs.String("database-url", env("DATABASE_URL", env("EDGEWAY_DATABASE_URL", "")), "PostgreSQL URL (env DATABASE_URL)")
	email := fs.String("email", "admin@edgeway.local", "administrator email")
	password := fs.String("password", "", "administrator password (at least 10 characters)")
	name := fs.String("name", "Demo Admin", "administrator name")
	account := fs.String("account", "Demo", "account name")
	reset := fs.Bool("reset-password", false, "when the administrator exists, set their password to -password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" || *password == "" {
		return errors.New("set DATABASE_URL (or -database-url) and -password")
	}
	if err := applyMigrations(ctx, *dbURL); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer pool.Close()
	svc, err := auth.NewService(newLogger(slog.LevelWarn, "text"), auth.NewStore(pool), auth.DefaultPolicy)
	if err != nil {
		return err
	}
	created, err := svc.Seed(ctx, *account, *name, *email, *password, *reset)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if created {
		fmt.Printf("created account %q with administrator %s\n", *account, *email)
	} else if *reset {
		fmt.Printf("administrator %s already exists; password reset\n", *email)
	} else {
		fmt.Printf("administrator %s already exists; nothing to do\n", *email)
	}
	return nil
}
