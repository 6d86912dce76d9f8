// Package pgtest gives each test its own freshly migrated PostgreSQL database.
//
// A test binary calls Main from TestMain. Main uses the server named by EDGEWAY_TEST_DATABASE_URL
// when it is set, and otherwise starts a throw-away cluster (package pgcluster) on first use and
// stops it when the tests end. All migrations are applied once to a template database; New and
// URL then copy it (CREATE DATABASE ... TEMPLATE), which takes milliseconds, and drop the copy
// when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/edgeway/edgeway/internal/pgcluster"
	"github.com/edgeway/edgeway/migrations"
)

// EnvURL names the environment variable with the URL of a PostgreSQL server to create the test
// databases on (any database name in it is ignored; the user must be allowed to create databases).
const EnvURL = "EDGEWAY_TEST_DATABASE_URL"

var (
	mainCalled bool

	setupOnce sync.Once
	setupErr  error
	server    *url.URL // server URL with no database
	admin     *pgxpool.Pool
	cluster   *pgcluster.Cluster
	tmpDir    string
	template  string
)

// Main runs the tests of a package that uses New or URL; call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// It exits the process with the tests' status after stopping what it started.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// New returns a pool on a fresh database with every migration applied. The pool is closed and
// the database dropped when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close) // runs before URL's cleanup drops the database
	return pool
}

// URL returns the URL of a fresh database with every migration applied, for tests that hand a
// database to another process. The database is dropped (its connections ended) when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// emptyURL returns the URL of a fresh database with no migration applied.
func emptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	if !mainCalled {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain in this package")
	}
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	name := dbName(t.Name())
	sql := "create database " + pgx.Identifier{name}.Sanitize()
	if migrated {
		sql += " template " + pgx.Identifier{template}.Sanitize()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return withDatabase(server, name)
}

// dbName makes a unique database name that still says which test made it.
func dbName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "_" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func withDatabase(server *url.URL, name string) string {
	u := *server
	u.Path = "/" + name
	q := u.Query()
	if q.Get("sslmode") == "" && (strings.HasPrefix(u.Host, "127.0.0.1") || strings.HasPrefix(u.Host, "localhost")) {
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	raw := os.Getenv(EnvURL)
	if raw == "" {
		dir, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			return fmt.Errorf("create cluster dir: %w", err)
		}
		tmpDir = dir
		if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must enter it when we are root
			return fmt.Errorf("chmod cluster dir: %w", err)
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Log: log, Ephemeral: true})
		if err != nil {
			return fmt.Errorf("start throw-away cluster (or set %s): %w", EnvURL, err)
		}
		raw = cluster.URL("postgres")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	server = u
	cfg, err := pgxpool.ParseConfig(withDatabase(server, "postgres"))
	if err != nil {
		return fmt.Errorf("parse server URL: %w", err)
	}
	cfg.MaxConns = 4
	admin, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	template, err = ensureTemplate(ctx)
	return err
}

// ensureTemplate builds the migrated template database, named after a hash of the migrations,
// unless it exists. Test binaries running in parallel on a shared server build it once: they
// serialize on an advisory lock.
func ensureTemplate(ctx context.Context) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "tmpl_edgeway_" + sum
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("acquire admin connection: %w", err)
	}
	defer conn.Release()
	const lockKey = 0x6564676577617901 // "edgeway" + 1
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", int64(lockKey))

	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1 and datistemplate)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	build := name + "_build"
	if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{build}.Sanitize()+" with (force)"); err != nil {
		return "", fmt.Errorf("drop leftover template build: %w", err)
	}
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{build}.Sanitize()); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	if err := migrate(ctx, withDatabase(server, build)); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	for _, sql := range []string{
		"alter database " + pgx.Identifier{build}.Sanitize() + " rename to " + pgx.Identifier{name}.Sanitize(),
		"alter database " + pgx.Identifier{name}.Sanitize() + " is_template true",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return "", fmt.Errorf("finish template: %w", err)
		}
	}
	return name, nil
}

func migrate(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrations.Up(ctx, conn)
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func teardown() error {
	var errs []error
	if admin != nil {
		admin.Close()
	}
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop cluster: %w", err))
		}
	}
	if tmpDir != "" {
		if err := os.RemoveAll(tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", tmpDir, err))
		}
	}
	return errors.Join(errs...)
}
