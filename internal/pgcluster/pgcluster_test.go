package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns a directory the postgres user can enter even when the test runs as root
// (t.TempDir is 0700).
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func start(t *testing.T, o Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func queryString(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return s
}

func TestStartCreateStopRestart(t *testing.T) {
	dir := filepath.Join(testDir(t), "pg")
	c := start(t, Options{Dir: dir, Ephemeral: true})

	if got := c.URL("app"); !strings.HasPrefix(got, "postgres://postgres@127.0.0.1:") || !strings.HasSuffix(got, "/app?sslmode=disable") {
		t.Errorf("URL = %q", got)
	}
	ctx := context.Background()
	for range 2 { // the second call finds the database
		if err := c.EnsureDatabase(ctx, "app"); err != nil {
			t.Fatalf("EnsureDatabase: %v", err)
		}
	}
	execSQL(t, c.URL("app"), "create table kept (v text)")
	execSQL(t, c.URL("app"), "insert into kept values ('hello')")
	if got := queryString(t, c.URL("app"), "show server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %q", got)
	}
	if got := queryString(t, c.URL("app"), "show fsync"); got != "off" {
		t.Errorf("fsync = %q in an ephemeral cluster", got)
	}

	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err after Stop = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid left after Stop: %v", err)
	}

	c2 := start(t, Options{Dir: dir}) // durable settings this time
	if got := queryString(t, c2.URL("app"), "select v from kept"); got != "hello" {
		t.Errorf("data after restart = %q", got)
	}
	if got := queryString(t, c2.URL("app"), "show fsync"); got != "on" {
		t.Errorf("fsync = %q in a durable cluster", got)
	}
}

func TestStalePIDFile(t *testing.T) {
	dir := filepath.Join(testDir(t), "pg")
	c := start(t, Options{Dir: dir, Ephemeral: true})
	if err := c.EnsureDatabase(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}

	// Kill the server hard: it leaves postmaster.pid behind.
	if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if c.Err() == nil {
		t.Error("Err = nil after the server was killed")
	}
	c.Stop()
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}
	// Point the stale file at a live process that is not a postgres (pid reuse in containers).
	pidFile := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	if err := os.WriteFile(pidFile, []byte("1\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let orphaned backends notice the postmaster died

	c2 := start(t, Options{Dir: dir, Ephemeral: true})
	if err := c2.EnsureDatabase(context.Background(), "app"); err != nil {
		t.Fatalf("EnsureDatabase after crash restart: %v", err)
	}
}

func TestNonEmptyDirWithoutCluster(t *testing.T) {
	dir := filepath.Join(testDir(t), "pg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start = %v, want a not-empty error", err)
	}
}

func TestPortInUse(t *testing.T) {
	dir := filepath.Join(testDir(t), "pg")
	c := start(t, Options{Dir: dir, Ephemeral: true})
	_, err := Start(context.Background(), Options{Dir: filepath.Join(testDir(t), "pg"), Port: c.Port(), Ephemeral: true, StartTimeout: 20 * time.Second})
	if err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	if !strings.Contains(err.Error(), "not free") {
		t.Errorf("error does not name the busy port: %v", err)
	}
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 2}
	w.Write([]byte("one\ntwo\nth"))
	w.Write([]byte("ree\nfour"))
	if got, want := w.quote(), "\npostgres output:\n  two\n  three\n  four"; got != want {
		t.Errorf("quote = %q, want %q", got, want)
	}
}
