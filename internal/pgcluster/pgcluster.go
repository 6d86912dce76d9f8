// Package pgcluster runs a local PostgreSQL cluster kept in one directory, for development and tests.
//
// Start creates the cluster with initdb when the directory holds none, starts the server on
// 127.0.0.1 and a private unix socket directory, and waits until it accepts connections; the next
// Start on the same directory reuses the data. When the process runs as root, the directory is
// handed to the postgres user and the server binaries run as that user.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options configures Start.
type Options struct {
	// Dir is the data directory (PGDATA). Created with initdb when it holds no cluster.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Log receives the cluster's own messages; nil discards them.
	Log *slog.Logger
	// BinDir holds initdb and postgres; empty means the newest /usr/lib/postgresql/*/bin
	// (or the one matching an existing cluster's version), else the directory of initdb on PATH.
	BinDir string
	// Ephemeral trades durability for speed (fsync, full page writes and synchronous commit off):
	// for throw-away test clusters only, as a crash can corrupt the data.
	Ephemeral bool
	// Output receives the server's log output (stderr); nil discards it. The last lines are kept
	// either way and quoted in errors.
	Output io.Writer
	// StartTimeout bounds the wait for the server to accept connections; 0 means 60 seconds.
	StartTimeout time.Duration
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	dir       string
	binDir    string
	socketDir string
	port      int
	log       *slog.Logger
	tail      *tailWriter
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error // set before done is closed

	stopOnce sync.Once
	stopErr  error
	stopping chan struct{}
}

// shutdownTimeout is how long Stop waits for a fast shutdown before escalating.
const shutdownTimeout = 30 * time.Second

// Start initializes the cluster in o.Dir if needed, starts the server and waits until it
// accepts connections. ctx bounds the start-up only; the server runs until Stop.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is empty")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: resolve dir %s: %w", o.Dir, err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("pg_dir", dir)

	owner, err := currentOwner()
	if err != nil {
		return nil, err
	}
	existingVersion := readVersion(dir)
	binDir, err := findBinDir(o.BinDir, existingVersion)
	if err != nil {
		return nil, err
	}
	if existingVersion != "" {
		if binVersion := binaryMajor(binDir); binVersion != "" && binVersion != existingVersion {
			return nil, fmt.Errorf("pgcluster: %s holds a PostgreSQL %s cluster but %s is PostgreSQL %s", dir, existingVersion, binDir, binVersion)
		}
	}

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: create parent of %s: %w", dir, err)
	}
	if err := owner.checkReachable(filepath.Dir(dir)); err != nil {
		return nil, err
	}

	tail := &tailWriter{max: 40}
	var out io.Writer = tail
	if o.Output != nil {
		out = io.MultiWriter(o.Output, tail)
	}

	if existingVersion == "" {
		// initdb's chatter only matters when it fails: keep it for the error.
		if err := initdb(ctx, log, binDir, dir, owner, o.Ephemeral, tail); err != nil {
			return nil, fmt.Errorf("pgcluster: initdb %s: %w%s", dir, err, tail.quote())
		}
	} else if err := owner.chownIfNeeded(dir); err != nil {
		return nil, err
	}
	if err := clearStalePID(log, dir); err != nil {
		return nil, err
	}

	port := o.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, fmt.Errorf("pgcluster: pick a free port: %w", err)
		}
	} else if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return nil, fmt.Errorf("pgcluster: port %d is not free (another server on it?): %w", port, err)
	} else {
		l.Close()
	}
	socketDir, err := os.MkdirTemp("", "ew-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: create socket dir: %w", err)
	}
	if err := owner.chown(socketDir); err != nil {
		os.RemoveAll(socketDir)
		return nil, err
	}

	args := []string{"-D", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + socketDir,
		"-c", "max_connections=300",
		"-c", "synchronous_commit=off",
		"-c", "log_min_messages=warning",
		"-c", "log_connections=off",
		"-c", "log_disconnections=off",
		"-c", "log_checkpoints=off",
	}
	if o.Ephemeral {
		args = append(args,
			"-c", "fsync=off",
			"-c", "full_page_writes=off",
			"-c", "autovacuum=off",
			"-c", "max_wal_size=1GB",
		)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = pgEnv()
	cmd.SysProcAttr = owner.sysProcAttr()
	// The server gets a fast shutdown when this process dies without calling Stop.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	// Its own process group: a Ctrl-C in the terminal reaches the caller, which stops the
	// server last, after the processes that use it.
	cmd.SysProcAttr.Setpgid = true
	cmd.WaitDelay = 5 * time.Second

	log.Debug("starting postgres", "port", port, "bin_dir", binDir, "ephemeral", o.Ephemeral)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(socketDir)
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	c := &Cluster{
		dir: dir, binDir: binDir, socketDir: socketDir, port: port,
		log: log, tail: tail, cmd: cmd,
		done: make(chan struct{}), stopping: make(chan struct{}),
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()

	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := c.waitReady(ctx, timeout); err != nil {
		c.Stop()
		return nil, err
	}
	log.Info("postgres ready", "url", c.URL("postgres"))
	return c, nil
}

// URL is the connection URL of database dbname over TCP as user postgres.
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, dbname)
}

// Port is the TCP port the server listens on (127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// Dir is the absolute data directory.
func (c *Cluster) Dir() string { return c.dir }

// SocketDir is the directory of the server's unix socket (valid until Stop).
func (c *Cluster) SocketDir() string { return c.socketDir }

// Done is closed when the server process has exited, whether through Stop or not.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err describes why the server exited; nil while it runs or after a clean Stop.
func (c *Cluster) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	select {
	case <-c.stopping:
		return nil
	default:
	}
	return fmt.Errorf("postgres exited unexpectedly: %v%s", c.waitErr, c.tail.quote())
}

// EnsureDatabase creates database name unless it exists.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect to create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	c.log.Info("created database", "database", name)
	return nil
}

// Stop shuts the server down (fast shutdown: sessions are ended, data is kept) and waits for it
// to exit, escalating to an immediate shutdown and then SIGKILL if it hangs. Stop is idempotent.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.stopErr = c.stop()
		os.RemoveAll(c.socketDir)
	})
	return c.stopErr
}

func (c *Cluster) stop() error {
	select {
	case <-c.done:
		return nil // already gone; Err reports why
	default:
	}
	pid := c.cmd.Process.Pid
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, shutdownTimeout},  // fast shutdown
		{syscall.SIGQUIT, 5 * time.Second}, // immediate shutdown
		{syscall.SIGKILL, 5 * time.Second},
	}
	for _, s := range steps {
		if err := syscall.Kill(pid, s.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pgcluster: signal postgres %d: %w", pid, err)
		}
		select {
		case <-c.done:
			if s.sig != syscall.SIGINT {
				return fmt.Errorf("pgcluster: postgres ignored fast shutdown; stopped with %v", s.sig)
			}
			c.log.Debug("postgres stopped")
			return nil
		case <-time.After(s.wait):
			c.log.Warn("postgres still running after signal", "signal", s.sig.String())
		}
	}
	return fmt.Errorf("pgcluster: postgres %d did not exit", pid)
}

func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if !c.pidFileSaysReady() {
			last = errors.New("postmaster.pid does not say ready yet")
			select {
			case <-c.done:
				return fmt.Errorf("pgcluster: postgres exited during start-up: %v%s", c.waitErr, c.tail.quote())
			case <-ctx.Done():
				return fmt.Errorf("pgcluster: wait for postgres on port %d: %w (last error: %v)%s", c.port, ctx.Err(), last, c.tail.quote())
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, c.URL("postgres"))
		if err == nil {
			// Make sure the server answering is ours, not another one on the same port.
			var dataDir string
			err = conn.QueryRow(attempt, "select current_setting('data_directory')").Scan(&dataDir)
			conn.Close(attempt)
			if err == nil && filepath.Clean(dataDir) != c.dir {
				err = fmt.Errorf("port %d is served by another cluster (%s)", c.port, dataDir)
			}
		}
		cancelAttempt()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-c.done:
			return fmt.Errorf("pgcluster: postgres exited during start-up: %v%s", c.waitErr, c.tail.quote())
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: wait for postgres on port %d: %w (last error: %v)%s", c.port, ctx.Err(), last, c.tail.quote())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// pidFileSaysReady reports whether postmaster.pid records that the server accepts connections
// (its 8th line, PM_STATUS_READY), so that polling does not fill the log with "the database
// system is starting up".
func (c *Cluster) pidFileSaysReady() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 8 {
		return false
	}
	if pid, _ := strconv.Atoi(strings.TrimSpace(lines[0])); pid != c.cmd.Process.Pid {
		return false // a stale file from an earlier server
	}
	return strings.TrimSpace(lines[7]) == "ready"
}

// initdb creates a cluster in a sibling directory and renames it into place, so that an
// interrupted initdb never leaves a half-made cluster in dir.
func initdb(ctx context.Context, log *slog.Logger, binDir, dir string, owner owner, ephemeral bool, out io.Writer) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty and holds no cluster (no PG_VERSION)", dir)
	}
	tmp := dir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := owner.chown(tmp); err != nil {
		return err
	}
	args := []string{"-D", tmp, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-instructions"}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	log.Info("creating cluster (initdb)")
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	cmd.Dir = tmp
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = pgEnv()
	cmd.SysProcAttr = owner.sysProcAttr()
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	os.Remove(dir) // an empty directory; the rename needs it gone
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("move cluster into place: %w", err)
	}
	return nil
}

// clearStalePID deals with a postmaster.pid left by a server that did not shut down cleanly.
// PostgreSQL itself only trusts the file's pid when no process has it, which in containers
// (small, reused pids) is often not the case.
func clearStalePID(log *slog.Logger, dir string) error {
	pidFile := filepath.Join(dir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: read %s: %w", pidFile, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		log.Warn("removing unreadable postmaster.pid")
		return removeFile(pidFile)
	}
	if !isPostmasterFor(pid, dir) {
		log.Warn("removing stale postmaster.pid (its server is gone)", "pid", pid)
		return removeFile(pidFile)
	}
	if ppid := parentPID(pid); ppid != 1 {
		return fmt.Errorf("pgcluster: %s is in use by a running postgres (pid %d, parent %d); stop it first", dir, pid, ppid)
	}
	// An orphan: its parent (a previous run) died without stopping it. Shut it down cleanly.
	log.Warn("stopping orphaned postgres left by a previous run", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pgcluster: stop orphaned postgres %d: %w", pid, err)
	}
	deadline := time.Now().Add(shutdownTimeout)
	for isPostmasterFor(pid, dir) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: orphaned postgres %d on %s did not stop", pid, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := removeFile(pidFile); err != nil {
		return err
	}
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove %s: %w", path, err)
	}
	return nil
}

// isPostmasterFor reports whether pid is a live postgres server whose data directory is dir.
func isPostmasterFor(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has exited already.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") {
			return false
		}
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
		return false
	}
	for i, a := range args {
		if a == "-D" && i+1 < len(args) && filepath.Clean(args[i+1]) == dir {
			return true
		}
	}
	// Started some other way (pg_ctl, no -D): the pid is a postgres; trust it is ours.
	return !strings.Contains(string(cmdline), "-D")
}

func parentPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// readVersion returns the major version in dir/PG_VERSION, or "" when there is no cluster.
func readVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// findBinDir picks the directory holding initdb and postgres.
func findBinDir(explicit, wantVersion string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(filepath.Join(explicit, "postgres")); err != nil {
			return "", fmt.Errorf("pgcluster: no postgres binary in %s: %w", explicit, err)
		}
		return explicit, nil
	}
	if wantVersion != "" {
		dir := filepath.Join("/usr/lib/postgresql", wantVersion, "bin")
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool {
		return versionOf(matches[i]) > versionOf(matches[j])
	})
	for _, m := range matches {
		if _, err := os.Stat(filepath.Join(filepath.Dir(m), "initdb")); err == nil {
			return filepath.Dir(m), nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgcluster: no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); install them with `apt-get install postgresql` or `make deps`")
}

func versionOf(binPath string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(binPath))), 64)
	return v
}

// binaryMajor guesses the major version of the binaries in binDir from their Debian path.
func binaryMajor(binDir string) string {
	if filepath.Dir(filepath.Dir(binDir)) == "/usr/lib/postgresql" && filepath.Base(binDir) == "bin" {
		return filepath.Base(filepath.Dir(binDir))
	}
	return ""
}

func pgEnv() []string {
	env := []string{"LC_ALL=C", "LANG=C", "TZ=UTC"}
	for _, k := range []string{"PATH", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// owner is the user the server runs as: the postgres user when we are root, else ourselves.
type owner struct {
	asRoot   bool
	uid, gid int
}

func currentOwner() (owner, error) {
	if os.Geteuid() != 0 {
		return owner{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return owner{}, fmt.Errorf("pgcluster: running as root needs a postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return owner{asRoot: true, uid: uid, gid: gid}, nil
}

// sysProcAttr runs a child as the owner. Setting the credentials directly (rather than through
// runuser) leaves no intermediate process that would turn our signals into SIGTERM and SIGKILL.
func (o owner) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if o.asRoot {
		a.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid), Groups: []uint32{}}
	}
	return a
}

func (o owner) chown(path string) error {
	if !o.asRoot {
		return nil
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("pgcluster: chown %s to postgres: %w", path, err)
	}
	return nil
}

// chownIfNeeded hands an existing data directory (e.g. made by a non-root run) to the owner.
func (o owner) chownIfNeeded(dir string) error {
	if !o.asRoot {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: stat %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == o.uid {
		return nil
	}
	err = filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, o.uid, o.gid)
	})
	if err != nil {
		return fmt.Errorf("pgcluster: chown %s to postgres: %w", dir, err)
	}
	return nil
}

// checkReachable reports a clear error when the postgres user cannot enter dir (a 0700
// directory owned by root on the way, as t.TempDir makes).
func (o owner) checkReachable(dir string) error {
	if !o.asRoot {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: stat %s: %w", d, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		if ok {
			canEnter := perm&0o001 != 0 ||
				(int(st.Uid) == o.uid && perm&0o100 != 0) ||
				(int(st.Gid) == o.gid && perm&0o010 != 0)
			if !canEnter {
				return fmt.Errorf("pgcluster: the postgres user cannot enter %s (mode %v): make it searchable (chmod o+x) or put the cluster elsewhere", d, perm)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
	}
	return len(p), nil
}

// quote formats the kept lines for an error message ("" when there are none).
func (t *tailWriter) quote() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(t.partial))
	}
	if len(lines) == 0 {
		return ""
	}
	return "\npostgres output:\n  " + strings.Join(lines, "\n  ")
}
