package pgtest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/edgeway/edgeway/migrations"
)

func TestMain(m *testing.M) { Main(m) }

// schema describes every table, column, index and constraint in the public schema, except
// tern's version table, so that two migrated databases can be compared.
func schema(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `
		select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		  from information_schema.columns where table_schema = 'public' and table_name <> 'schema_version'
		union all
		select 'index ' || tablename || ' ' || indexdef from pg_indexes where schemaname = 'public' and tablename <> 'schema_version'
		union all
		select 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		  from pg_constraint where connamespace = 'public'::regnamespace and conrelid <> 0 and conrelid::regclass::text <> 'schema_version'
		union all
		select 'type ' || typname from pg_type where typnamespace = 'public'::regnamespace and typtype in ('e', 'd', 'c') and typrelid = 0
		union all
		select 'function ' || proname from pg_proc where pronamespace = 'public'::regnamespace
		union all
		select 'sequence ' || sequence_name from information_schema.sequences where sequence_schema = 'public'
		order by 1`)
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	s, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return s
}

func version(t *testing.T, conn *pgx.Conn) int32 {
	t.Helper()
	var v int32
	if err := conn.QueryRow(context.Background(), "select version from "+migrations.VersionTable).Scan(&v); err != nil {
		t.Fatalf("read schema version: %v", err)
	}
	return v
}

// TestMigrationsUpDownUp applies every migration to an empty database, migrates down to 0
// (which must leave nothing behind) and up again (which must give the same schema).
func TestMigrationsUpDownUp(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, emptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}

	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("up: %v", err)
	}
	if got := version(t, conn); got != latest {
		t.Fatalf("version after up = %d, want %d", got, latest)
	}
	first := schema(t, conn)
	if len(first) == 0 {
		t.Fatal("no schema after up")
	}

	// Step down one migration at a time so that every down section runs on its own.
	for v := latest - 1; v >= 0; v-- {
		if err := migrations.To(ctx, conn, v); err != nil {
			t.Fatalf("down to %d: %v", v, err)
		}
	}
	if left := schema(t, conn); len(left) != 0 {
		t.Fatalf("down to 0 left behind:\n%s", strings.Join(left, "\n"))
	}

	if err := migrations.Up(ctx, conn); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := version(t, conn); got != latest {
		t.Fatalf("version after up again = %d, want %d", got, latest)
	}
	if diff := cmp.Diff(first, schema(t, conn)); diff != "" {
		t.Errorf("schema after up, down, up differs (-first +again):\n%s", diff)
	}
}

func TestNewGivesMigratedIsolatedDatabases(t *testing.T) {
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var (
		mu    sync.Mutex
		names = map[string]bool{}
	)
	for i := range 3 {
		t.Run("db", func(t *testing.T) {
			t.Parallel()
			pool := New(t)
			var v int32
			if err := pool.QueryRow(ctx, "select version from "+migrations.VersionTable).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != latest {
				t.Errorf("version = %d, want %d", v, latest)
			}
			var name string
			if err := pool.QueryRow(ctx, "select current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if names[name] {
				t.Errorf("database %s handed out twice (run %d)", name, i)
			}
			names[name] = true
		})
	}
}

func TestURLDatabaseIsDropped(t *testing.T) {
	var dbURL string
	t.Run("inner", func(t *testing.T) {
		dbURL = URL(t)
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the cleanup must end it.
		_ = conn
	})
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := admin.QueryRow(context.Background(), "select exists (select 1 from pg_database where datname = $1)", cfg.Database).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", cfg.Database)
	}
}

func TestDBName(t *testing.T) {
	tests := []struct{ in, prefix string }{
		{"TestX", "t_testx_"},
		{"TestStore/Create-Duplicate Email", "t_teststore_create_duplicate_email_"},
		{strings.Repeat("A", 100), "t_" + strings.Repeat("a", 38) + "_"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := dbName(tt.in)
			if !strings.HasPrefix(got, tt.prefix) || len(got) > 63 {
				t.Errorf("dbName(%q) = %q, want prefix %q and at most 63 bytes", tt.in, got, tt.prefix)
			}
		})
	}
}
