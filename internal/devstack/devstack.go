// Package devstack runs the whole Edgeway platform on one machine for development and
// end-to-end tests: PostgreSQL (package pgcluster, unless a DATABASE_URL is given), the bff
// (migrated and seeded with a demo account), one edge per region and, when installed, mailpit.
//
// Run starts everything in order, waits until each part is healthy, writes an optional ready
// file and prints a banner; it stops everything (children first, PostgreSQL last) when its
// context ends or any child exits unexpectedly.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgeway/edgeway/internal/devca"
	"github.com/edgeway/edgeway/internal/pgcluster"
)

// Defaults for a persistent (non-ephemeral) stack.
const (
	DefaultHTTPAddr    = "127.0.0.1:8080"
	DefaultAPIAddr     = "127.0.0.1:8081"
	DefaultControlAddr = "127.0.0.1:8082"
	DefaultPGPort      = 5544
	DefaultSMTPAddr    = "127.0.0.1:1025"
	DefaultMailUIAddr  = "127.0.0.1:8025"
	DefaultEdgePort    = 9000  // region i uses DefaultEdgePort+10*i .. +3
	DefaultEdgeTCPPort = 20000 // region i uses DefaultEdgeTCPPort+100*i .. +99

	// AdminEmail is the demo administrator's login.
	AdminEmail = "admin@edgeway.local"
	// DemoAccount is the name of the seeded account.
	DemoAccount = "Demo"

	edgeTCPPorts = 100
	readyTimeout = 90 * time.Second
)

// Config describes the stack to run. An empty address or a zero port means "pick a free one".
type Config struct {
	// DataDir keeps the state between runs: pg/ (the cluster), mailpit.db, demo-login.json.
	// Ignored when Ephemeral is set.
	DataDir string
	// Ephemeral runs on a fresh temporary data directory removed at the end, with PostgreSQL's
	// fsync off, and a fresh demo password.
	Ephemeral bool
	// ReadyFile, when set, receives a JSON Ready once everything is healthy (removed at exit).
	ReadyFile string
	// BinDir holds the bff and edge binaries.
	BinDir string
	// DatabaseURL, when set, is used instead of starting a cluster.
	DatabaseURL string

	HTTPAddr    string // dashboard
	APIAddr     string // public API
	ControlAddr string // control channel the edges dial
	PGPort      int
	SMTPAddr    string // mailpit SMTP
	MailUIAddr  string // mailpit web UI
	EdgePort    int    // first port of the edge block; 0 picks free ports per edge
	EdgeTCPPort int    // first TCP port of the edge block; 0 picks free ranges
	// Regions lists the regions to start an edge for.
	Regions []string
	// Mailpit is the mailpit binary; empty looks in .tools/bin and on PATH; "-" disables mail.
	Mailpit string

	// PGOnly starts PostgreSQL alone (no mail, bff or edges).
	PGOnly bool
	// Command, when set, is run once the stack is ready, with DATABASE_URL (and, when a cluster
	// was started, EDGEWAY_TEST_DATABASE_URL) in its environment; Run then stops the stack and
	// returns the command's failure as a *CommandExitError.
	Command []string

	// Out receives the children's prefixed output, the banner and Command's standard output.
	Out io.Writer
	// CommandErr receives Command's standard error.
	CommandErr io.Writer
	// Log receives devstack's own messages.
	Log *slog.Logger
	// Force, when closed, makes the shutdown kill children without waiting.
	Force <-chan struct{}
	// RestartBff restarts the bff (stop, start, wait until ready) on every receive: for trying
	// a rebuilt bff, and for tests of how the dashboard and the edges ride out a bff restart.
	RestartBff <-chan struct{}
}

// Edge describes one running edge.
type Edge struct {
	Region     string `json:"region"`
	HTTPAddr   string `json:"http_addr"`
	HTTPSAddr  string `json:"https_addr"`
	AgentAddr  string `json:"agent_addr"`
	OpsAddr    string `json:"ops_addr"`
	TCPPorts   string `json:"tcp_ports"` // "first-last"
	BaseDomain string `json:"base_domain"`
}

// Ready is what the ready file holds once the stack is healthy.
type Ready struct {
	DashboardURL  string `json:"dashboard_url"`
	APIURL        string `json:"api_url"`
	DatabaseURL   string `json:"database_url"`
	MailpitURL    string `json:"mailpit_url"` // "" without mailpit
	SMTPAddr      string `json:"smtp_addr"`   // "" without mailpit
	AdminEmail    string `json:"admin_email"`
	AdminPassword string `json:"admin_password"`
	Edges         []Edge `json:"edges"`
	ControlAddr   string `json:"control_addr"`
	// CAFile is the development CA that signed the edges' and the bff's certificates: agents
	// trust it with --ca.
	CAFile string `json:"ca_file"`
	// EdgeToken is the control-channel secret of this run, for starting extra edges by hand.
	EdgeToken string `json:"edge_token"`
	DataDir   string `json:"data_dir"`
	PID       int    `json:"pid"` // devstack's; send it SIGTERM to stop the stack
}

type stack struct {
	cfg   Config
	log   *slog.Logger
	out   *output
	fail  context.CancelCauseFunc
	force <-chan struct{}

	bffEnv  []string
	bffPath string

	mu      sync.Mutex
	procs   []*proc // in start order
	cluster *pgcluster.Cluster
	tmpDir  string
}

// Run starts the stack and blocks until ctx ends (nil) or a part of it fails (the error).
// Everything it started is stopped before it returns.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.CommandErr == nil {
		cfg.CommandErr = cfg.Out
	}
	s := &stack{cfg: cfg, log: cfg.Log, force: cfg.Force}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.force == nil {
		s.force = make(chan struct{})
	}
	s.out = &output{w: cfg.Out, width: len("mailpit")}
	for _, r := range cfg.Regions {
		s.out.width = max(s.out.width, len("edge-"+r))
	}

	ctx, s.fail = context.WithCancelCause(ctx)
	defer s.fail(nil)
	defer func() {
		if serr := s.shutdown(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()

	start := s.start
	if cfg.PGOnly {
		start = s.startPGOnly
	}
	ready, err := start(ctx)
	if err != nil {
		if cause := context.Cause(ctx); errIsExit(cause) {
			return cause
		}
		if ctx.Err() != nil && !errIsExit(context.Cause(ctx)) {
			s.log.Info("start-up interrupted")
			return nil
		}
		return err
	}
	if cfg.ReadyFile != "" {
		if err := writeJSON(cfg.ReadyFile, ready, 0o600); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		defer os.Remove(cfg.ReadyFile)
	}
	if len(cfg.Command) > 0 {
		return s.runCommand(ctx, ready)
	}
	if cfg.PGOnly {
		s.out.print(fmt.Sprintf("\nPostgreSQL is running: %s\nPress Ctrl-C to stop.\n", ready.DatabaseURL))
	} else {
		s.out.print(banner(ready))
	}

	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-cfg.RestartBff:
			if err := s.restartBff(ctx, ready); err != nil {
				return err
			}
		}
	}
	if cause := context.Cause(ctx); errIsExit(cause) {
		s.log.Error("stopping everything", "reason", cause)
		return cause
	}
	s.log.Info("stopping")
	return nil
}

func (s *stack) start(ctx context.Context) (*Ready, error) {
	cfg := s.cfg
	if cfg.ReadyFile != "" {
		os.Remove(cfg.ReadyFile) // never leave a stale one for a waiter to read
	}
	binDir, err := filepath.Abs(cfg.BinDir)
	if err != nil {
		return nil, fmt.Errorf("resolve -bin: %w", err)
	}
	bff := filepath.Join(binDir, "bff")
	if _, err := os.Stat(bff); err != nil {
		return nil, fmt.Errorf("no bff binary at %s (run `make build`, or pass -bin): %w", bff, err)
	}

	dataDir, err := s.dataDir()
	if err != nil {
		return nil, err
	}

	// Ports: hold every port while choosing, then release them for the children.
	pp := newPortPicker()
	defer pp.release()
	pick := func(what string, addr *string) error {
		if *addr == "" {
			a, err := pp.addr()
			*addr = a
			return err
		}
		return pp.claim(what, *addr)
	}
	for _, a := range []struct {
		what string
		addr *string
	}{{"-http-addr", &cfg.HTTPAddr}, {"-api-addr", &cfg.APIAddr}, {"-control-addr", &cfg.ControlAddr}} {
		if err := pick(a.what, a.addr); err != nil {
			return nil, err
		}
	}
	pgPort := cfg.PGPort
	if cfg.DatabaseURL == "" && pgPort == 0 {
		if pgPort, err = pp.port(); err != nil {
			return nil, err
		}
	}

	mailpit := s.findMailpit(binDir)
	if mailpit != "" {
		if err := pick("mailpit SMTP address", &cfg.SMTPAddr); err != nil {
			return nil, err
		}
		if err := pick("mailpit UI address", &cfg.MailUIAddr); err != nil {
			return nil, err
		}
	}

	edgeBin := filepath.Join(binDir, "edge")
	var edges []Edge
	if _, err := os.Stat(edgeBin); err != nil {
		s.log.Warn("no edge binary yet: starting no edges", "path", edgeBin)
	} else {
		if edges, err = planEdges(pp, cfg.Regions, cfg.EdgePort, cfg.EdgeTCPPort); err != nil {
			return nil, err
		}
	}
	pp.release()

	dbURL, err := s.startPostgres(ctx, dataDir, pgPort)
	if err != nil {
		return nil, err
	}

	password, err := s.demoPassword(dataDir)
	if err != nil {
		return nil, err
	}

	// Mail.
	ready := &Ready{
		DashboardURL:  "http://" + cfg.HTTPAddr,
		APIURL:        "http://" + cfg.APIAddr,
		DatabaseURL:   dbURL,
		AdminEmail:    AdminEmail,
		AdminPassword: password,
		Edges:         edges,
		ControlAddr:   cfg.ControlAddr,
		DataDir:       dataDir,
		PID:           os.Getpid(),
	}
	if ready.Edges == nil {
		ready.Edges = []Edge{}
	}
	if mailpit != "" {
		if _, err := s.startProc("mailpit", nil, mailpit,
			"--smtp", cfg.SMTPAddr,
			"--listen", cfg.MailUIAddr,
			"--database", filepath.Join(dataDir, "mailpit.db"),
			"--disable-version-check",
			"--smtp-auth-accept-any",
			"--smtp-auth-allow-insecure",
		); err != nil {
			return nil, err
		}
		ready.MailpitURL = "http://" + cfg.MailUIAddr
		ready.SMTPAddr = cfg.SMTPAddr
		if err := waitHTTP(ctx, ready.MailpitURL+"/readyz", readyTimeout); err != nil {
			return nil, fmt.Errorf("wait for mailpit: %w", err)
		}
		s.log.Info("mailpit ready", "url", ready.MailpitURL)
	} else {
		s.log.Warn("mailpit not found (.tools/bin/mailpit or PATH; `make deps` installs it): email is not sent")
	}

	// The bff: migrate, seed, serve.
	edgesJSON, err := json.Marshal(ready.Edges)
	if err != nil {
		return nil, err
	}
	// The shared secret of the edge control channel, new for every run (the edges restart with it).
	edgeToken := rand.Text()
	// TLS everywhere: a development CA kept under DATA/ca (so agents keep trusting it across runs)
	// issues fresh certificates for the bff's control channel and each edge.
	tlsFiles, err := s.issueCertificates(dataDir, edges)
	if err != nil {
		return nil, err
	}
	ready.CAFile, ready.EdgeToken = tlsFiles.ca, edgeToken
	bffEnv := env(map[string]string{
		"EDGEWAY_EDGE_TOKEN":       edgeToken,
		"DATABASE_URL":             dbURL,
		"EDGEWAY_HTTP_ADDR":        cfg.HTTPAddr,
		"EDGEWAY_API_ADDR":         cfg.APIAddr,
		"EDGEWAY_PUBLIC_URL":       ready.DashboardURL,
		"EDGEWAY_API_URL":          ready.APIURL,
		"EDGEWAY_SMTP_ADDR":        ready.SMTPAddr,
		"EDGEWAY_SMTP_FROM":        "Edgeway <noreply@edgeway.local>",
		"EDGEWAY_CONTROL_ADDR":     cfg.ControlAddr,
		"EDGEWAY_CONTROL_TLS_CERT": tlsFiles.bffCert,
		"EDGEWAY_CONTROL_TLS_KEY":  tlsFiles.bffKey,
		"EDGEWAY_EDGES":            string(edgesJSON),
	})
	bffOut := s.out.writer("bff")
	if err := runOnce(ctx, "bff", bffOut, bffEnv, bff, "migrate"); err != nil {
		return nil, err
	}
	if err := runOnce(ctx, "bff", bffOut, bffEnv, bff, "seed", "-email", AdminEmail, "-password", password, "-account", DemoAccount, "-reset-password"); err != nil {
		return nil, err
	}
	s.bffEnv, s.bffPath = bffEnv, bff
	if _, err := s.startProc("bff", bffEnv, bff, "serve"); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, ready.DashboardURL+"/readyz", readyTimeout); err != nil {
		return nil, fmt.Errorf("wait for bff: %w", err)
	}
	s.log.Info("bff ready", "dashboard", ready.DashboardURL, "api", ready.APIURL)

	// Edges, started together.
	for _, e := range edges {
		if _, err := s.startProc("edge-"+e.Region, env(map[string]string{"EDGEWAY_EDGE_BFF_TOKEN": edgeToken}), edgeBin,
			"-region", e.Region,
			"-http-addr", e.HTTPAddr,
			"-https-addr", e.HTTPSAddr,
			"-agent-addr", e.AgentAddr,
			"-ops-addr", e.OpsAddr,
			"-tcp-ports", e.TCPPorts,
			"-base-domain", e.BaseDomain,
			"-bff-addr", cfg.ControlAddr,
			"-bff-ca", tlsFiles.ca,
			"-tls-cert", tlsFiles.edgeCert[e.Region],
			"-tls-key", tlsFiles.edgeKey[e.Region],
		); err != nil {
			return nil, err
		}
	}
	errs := make(chan error, len(edges))
	for _, e := range edges {
		go func() {
			if err := waitHTTP(ctx, "http://"+e.OpsAddr+"/healthz", readyTimeout); err != nil {
				errs <- fmt.Errorf("wait for edge-%s: %w", e.Region, err)
				return
			}
			errs <- nil
		}()
	}
	var edgeErrs []error
	for range edges {
		edgeErrs = append(edgeErrs, <-errs)
	}
	if err := errors.Join(edgeErrs...); err != nil {
		return nil, err
	}
	if len(edges) > 0 {
		s.log.Info("edges ready", "count", len(edges))
	}
	return ready, nil
}

// startPostgres starts the cluster under dataDir/pg and ensures the edgeway database, unless
// DatabaseURL is set. It returns the database URL.
func (s *stack) startPostgres(ctx context.Context, dataDir string, pgPort int) (string, error) {
	if s.cfg.DatabaseURL != "" {
		s.log.Info("using DATABASE_URL; not starting PostgreSQL")
		return s.cfg.DatabaseURL, nil
	}
	// Under a test command, the server's log (expected ERROR lines from tests that provoke
	// constraint violations) would drown the test output: keep it only with -v.
	var pgOut io.Writer = s.out.writer("pg")
	if s.cfg.PGOnly && len(s.cfg.Command) > 0 && !s.log.Enabled(ctx, slog.LevelDebug) {
		pgOut = io.Discard
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		Dir:       filepath.Join(dataDir, "pg"),
		Port:      pgPort,
		Log:       s.log,
		Ephemeral: s.cfg.Ephemeral,
		Output:    pgOut,
	})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.cluster = c
	s.mu.Unlock()
	go func() {
		<-c.Done()
		if err := c.Err(); err != nil {
			s.fail(&exitError{name: "postgres", err: err})
		}
	}()
	if err := c.EnsureDatabase(ctx, "edgeway"); err != nil {
		return "", err
	}
	return c.URL("edgeway"), nil
}

// startPGOnly starts PostgreSQL alone (for `make test` and `make migrate`).
func (s *stack) startPGOnly(ctx context.Context) (*Ready, error) {
	dataDir, err := s.dataDir()
	if err != nil {
		return nil, err
	}
	dbURL, err := s.startPostgres(ctx, dataDir, s.cfg.PGPort)
	if err != nil {
		return nil, err
	}
	return &Ready{DatabaseURL: dbURL, Edges: []Edge{}, DataDir: dataDir, PID: os.Getpid()}, nil
}

// runCommand runs cfg.Command with the database in its environment and returns its exit as
// a *CommandExitError (nil on success). ctx ending sends it SIGTERM.
func (s *stack) runCommand(ctx context.Context, r *Ready) error {
	args := s.cfg.Command
	s.mu.Lock()
	cluster := s.cluster
	s.mu.Unlock()
	vars := map[string]string{"DATABASE_URL": r.DatabaseURL}
	if r.DashboardURL != "" {
		vars["EDGEWAY_DASHBOARD_URL"] = r.DashboardURL
		vars["EDGEWAY_API_URL"] = r.APIURL
	}
	if cluster != nil {
		// A server URL on which tests create their own databases (package pgtest).
		vars["EDGEWAY_TEST_DATABASE_URL"] = cluster.URL("postgres")
	}
	if s.cfg.ReadyFile != "" {
		vars["EDGEWAY_READY_FILE"] = s.cfg.ReadyFile
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env(vars)
	cmd.Stdin = os.Stdin
	cmd.Stdout = s.cfg.Out
	cmd.Stderr = s.cfg.CommandErr
	// Same process group as devstack: a terminal's Ctrl-C reaches the command directly.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	s.log.Info("running command", "command", strings.Join(args, " "))
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		if code < 0 {
			code = 1 // killed by a signal
		}
		return &CommandExitError{Code: code}
	}
	return fmt.Errorf("run %s: %w", args[0], err)
}

// CommandExitError reports that Config.Command exited with a non-zero status.
type CommandExitError struct{ Code int }

func (e *CommandExitError) Error() string {
	return fmt.Sprintf("command exited with status %d", e.Code)
}

// dataDir creates the data directory (a temporary one when ephemeral) and returns its path.
func (s *stack) dataDir() (string, error) {
	if s.cfg.Ephemeral {
		dir, err := os.MkdirTemp("", "edgeway-devstack-")
		if err != nil {
			return "", fmt.Errorf("create temporary data dir: %w", err)
		}
		s.mu.Lock()
		s.tmpDir = dir
		s.mu.Unlock()
		// The postgres user must be able to enter it when we run as root.
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", fmt.Errorf("chmod data dir: %w", err)
		}
		return dir, nil
	}
	dir, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("resolve -data: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	return dir, nil
}

// demoLogin is the content of DATA/demo-login.json.
type demoLogin struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// demoPassword returns the demo administrator's password: the one kept in DATA/demo-login.json,
// or a new random one that is kept there for the next run.
func (s *stack) demoPassword(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "demo-login.json")
	if b, err := os.ReadFile(path); err == nil {
		var l demoLogin
		if err := json.Unmarshal(b, &l); err == nil && len(l.Password) >= 16 {
			return l.Password, nil
		}
		s.log.Warn("ignoring unreadable demo login file; making a new password", "path", path)
	}
	password := rand.Text() // 26 characters, base32
	if err := writeJSON(path, demoLogin{Email: AdminEmail, Password: password}, 0o600); err != nil {
		return "", fmt.Errorf("keep demo login: %w", err)
	}
	return password, nil
}

// findMailpit returns the mailpit binary to run, or "" when there is none.
func (s *stack) findMailpit(binDir string) string {
	switch s.cfg.Mailpit {
	case "-":
		return ""
	case "":
	default:
		return s.cfg.Mailpit
	}
	candidates := []string{filepath.Join(filepath.Dir(binDir), ".tools", "bin", "mailpit")}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, filepath.Join(wd, ".tools", "bin", "mailpit"))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	return ""
}

// startProc starts a long-running child and registers it for monitoring and shutdown.
func (s *stack) startProc(name string, env []string, path string, args ...string) (*proc, error) {
	if env == nil {
		env = os.Environ()
	}
	p, err := startProc(name, s.out.writer(name), env, func(err error) { s.fail(err) }, path, args...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// shutdown stops the children in reverse start order (the edges together), then PostgreSQL,
// and removes the temporary data directory.
func (s *stack) shutdown() error {
	s.mu.Lock()
	procs, cluster, tmpDir := s.procs, s.cluster, s.tmpDir
	s.mu.Unlock()
	// Mark every child as stopping first, so that one going down does not count as a failure.
	for _, p := range procs {
		p.stopping.Store(true)
	}
	var errs []error
	var edges []*proc
	for _, p := range procs {
		if strings.HasPrefix(p.name, "edge-") {
			edges = append(edges, p)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range edges {
		wg.Go(func() {
			if err := p.stop(s.force); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := len(procs) - 1; i >= 0; i-- {
		if p := procs[i]; !strings.HasPrefix(p.name, "edge-") {
			if err := p.stop(s.force); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if tmpDir != "" {
		if err := os.RemoveAll(tmpDir); err != nil {
			errs = append(errs, fmt.Errorf("remove temporary data dir: %w", err))
		}
	}
	if len(procs) > 0 || cluster != nil {
		s.log.Info("stopped")
	}
	return errors.Join(errs...)
}

// planEdges assigns addresses to one edge per region: fixed blocks from edgePort and tcpPort,
// or free ports when they are 0. Every port is checked (and held) by pp.
func planEdges(pp *portPicker, regions []string, edgePort, tcpPort int) ([]Edge, error) {
	var edges []Edge
	for i, r := range regions {
		e := Edge{Region: r, BaseDomain: r + ".localhost"}
		addrs := []*string{&e.HTTPAddr, &e.HTTPSAddr, &e.AgentAddr, &e.OpsAddr}
		for j, a := range addrs {
			if edgePort == 0 {
				addr, err := pp.addr()
				if err != nil {
					return nil, err
				}
				*a = addr
				continue
			}
			*a = net.JoinHostPort("127.0.0.1", strconv.Itoa(edgePort+10*i+j))
			if err := pp.claim("edge-"+r+" address", *a); err != nil {
				return nil, err
			}
		}
		first := tcpPort + edgeTCPPorts*i
		if tcpPort == 0 {
			var err error
			if first, err = pp.tcpRange(edgeTCPPorts); err != nil {
				return nil, err
			}
		} else if err := pp.claimRange(first, edgeTCPPorts); err != nil {
			return nil, fmt.Errorf("edge-%s TCP ports %d-%d: %w", r, first, first+edgeTCPPorts-1, err)
		}
		e.TCPPorts = fmt.Sprintf("%d-%d", first, first+edgeTCPPorts-1)
		edges = append(edges, e)
	}
	return edges, nil
}

// waitHTTP polls url until it answers 200, ctx ends or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); errIsExit(cause) {
				return cause
			}
			return fmt.Errorf("%s not ready after %v: %v", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// env returns this process's environment with vars set (they win over inherited values).
func env(vars map[string]string) []string {
	e := os.Environ()
	for k, v := range vars {
		e = append(e, k+"="+v)
	}
	return e
}

// writeJSON writes v to path atomically (a temporary file renamed into place).
func writeJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// banner is the summary printed once the stack is ready.
func banner(r *Ready) string {
	var b strings.Builder
	line := strings.Repeat("=", 72)
	fmt.Fprintf(&b, "\n%s\n Edgeway is running\n%s\n", line, line)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, " Dashboard\t%s\n", r.DashboardURL)
	fmt.Fprintf(tw, " API\t%s\n", r.APIURL)
	fmt.Fprintf(tw, " Login\t%s\n", r.AdminEmail)
	fmt.Fprintf(tw, " Password\t%s\n", r.AdminPassword)
	if r.MailpitURL != "" {
		fmt.Fprintf(tw, " Mail UI\t%s  (SMTP %s)\n", r.MailpitURL, r.SMTPAddr)
	} else {
		fmt.Fprintf(tw, " Mail UI\tnone (mailpit not installed: make deps)\n")
	}
	fmt.Fprintf(tw, " Database\t%s\n", r.DatabaseURL)
	tw.Flush()
	if len(r.Edges) == 0 {
		fmt.Fprintf(&b, " Edges: none (no edge binary)\n")
	} else {
		fmt.Fprintf(&b, " Edges:\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "   REGION\tHTTP\tHTTPS\tAGENT\tOPS\tTCP PORTS\tBASE DOMAIN\n")
		for _, e := range r.Edges {
			fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Region, e.HTTPAddr, e.HTTPSAddr, e.AgentAddr, e.OpsAddr, e.TCPPorts, e.BaseDomain)
		}
		tw.Flush()
	}
	fmt.Fprintf(&b, "%s\n Press Ctrl-C to stop.\n%s\n", line, line)
	return b.String()
}

type tlsFiles struct {
	ca, bffCert, bffKey string
	edgeCert, edgeKey   map[string]string
}

// issueCertificates loads or creates the development CA under dataDir/ca and issues certificates
// for the bff's control channel and for each edge (its base domain and every name under it).
func (s *stack) issueCertificates(dataDir string, edges []Edge) (tlsFiles, error) {
	ca, err := devca.LoadOrCreate(filepath.Join(dataDir, "ca"))
	if err != nil {
		return tlsFiles{}, err
	}
	dir := filepath.Join(dataDir, "certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tlsFiles{}, err
	}
	f := tlsFiles{ca: filepath.Join(dataDir, "ca", "ca.pem"), bffCert: filepath.Join(dir, "bff-control.pem"),
		bffKey: filepath.Join(dir, "bff-control-key.pem"), edgeCert: map[string]string{}, edgeKey: map[string]string{}}
	if err := ca.IssueFiles(f.bffCert, f.bffKey, "localhost", "127.0.0.1", "::1"); err != nil {
		return tlsFiles{}, fmt.Errorf("issue bff certificate: %w", err)
	}
	for _, e := range edges {
		f.edgeCert[e.Region] = filepath.Join(dir, "edge-"+e.Region+".pem")
		f.edgeKey[e.Region] = filepath.Join(dir, "edge-"+e.Region+"-key.pem")
		if err := ca.IssueFiles(f.edgeCert[e.Region], f.edgeKey[e.Region],
			e.BaseDomain, "*."+e.BaseDomain, "localhost", "127.0.0.1", "::1"); err != nil {
			return tlsFiles{}, fmt.Errorf("issue %s edge certificate: %w", e.Region, err)
		}
	}
	s.log.Info("development CA ready; agents trust it with --ca", "ca", f.ca)
	return f, nil
}

// restartBff stops the bff, starts it again with the same settings and waits until it is ready.
// The edges keep serving their agents meanwhile and reconnect to the new bff on their own.
func (s *stack) restartBff(ctx context.Context, r *Ready) error {
	s.mu.Lock()
	var old *proc
	idx := -1
	for i, p := range s.procs {
		if p.name == "bff" {
			old, idx = p, i
		}
	}
	s.mu.Unlock()
	if old == nil {
		return nil
	}
	s.log.Info("restarting the bff")
	if err := old.stop(s.force); err != nil {
		s.log.Warn("stop bff", "err", err)
	}
	p, err := startProc("bff", s.out.writer("bff"), s.bffEnv, func(err error) { s.fail(err) }, s.bffPath, "serve")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs[idx] = p
	s.mu.Unlock()
	if err := waitHTTP(ctx, r.DashboardURL+"/readyz", readyTimeout); err != nil {
		return fmt.Errorf("wait for the restarted bff: %w", err)
	}
	s.log.Info("bff restarted", "dashboard", r.DashboardURL)
	return nil
}
