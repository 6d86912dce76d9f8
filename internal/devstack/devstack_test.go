package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the fake bff and edge: the scripts in the fake bin directory run
// it with FAKE_ROLE set.
func TestMain(m *testing.M) {
	switch os.Getenv("FAKE_ROLE") {
	case "bff":
		os.Exit(fakeBFF(os.Args[1:]))
	case "edge":
		os.Exit(fakeEdge(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// record appends a line to $FAKE_LOG.
func record(format string, args ...any) {
	f, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

func fakeBFF(args []string) int {
	if len(args) == 0 {
		return 2
	}
	switch args[0] {
	case "migrate", "seed":
		if os.Getenv("DATABASE_URL") == "" {
			fmt.Println("no DATABASE_URL")
			return 1
		}
		record("%s %s", args[0], strings.Join(args[1:], " "))
		fmt.Println("did", args[0])
		return 0
	case "serve":
		record("serve pid=%d", os.Getpid())
		for _, k := range []string{"EDGEWAY_HTTP_ADDR", "EDGEWAY_API_ADDR", "EDGEWAY_PUBLIC_URL", "EDGEWAY_API_URL", "EDGEWAY_CONTROL_ADDR", "EDGEWAY_EDGES", "EDGEWAY_SMTP_FROM"} {
			record("env %s=%s", k, os.Getenv(k))
		}
		return serveUntilTERM(os.Getenv("EDGEWAY_HTTP_ADDR"), "/readyz")
	}
	return 2
}

func fakeEdge(args []string) int {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	region := fs.String("region", "", "")
	ops := fs.String("ops-addr", "", "")
	for _, f := range []string{"http-addr", "https-addr", "agent-addr", "tcp-ports", "base-domain", "bff-addr", "tls-cert", "tls-key", "bff-ca"} {
		fs.String(f, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	record("edge %s pid=%d", *region, os.Getpid())
	return serveUntilTERM(*ops, "/healthz")
}

func serveUntilTERM(addr, path string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := &http.Server{Addr: addr, Handler: mux}
	go srv.ListenAndServe()
	if d, err := time.ParseDuration(os.Getenv("FAKE_CRASH_AFTER")); err == nil {
		select {
		case <-time.After(d):
			fmt.Println("crashing on purpose")
			return 3
		case <-term:
		}
	} else {
		<-term
	}
	fmt.Println("stopping")
	srv.Close()
	return 0
}

// fakeBin writes bff (and edge) scripts that run the test binary in a fake role.
func fakeBin(t *testing.T, withEdge bool) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	roles := []string{"bff"}
	if withEdge {
		roles = append(roles, "edge")
	}
	for _, role := range roles {
		script := fmt.Sprintf("#!/bin/sh\nFAKE_ROLE=%s exec %q \"$@\"\n", role, self)
		if err := os.WriteFile(filepath.Join(dir, role), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_LOG", filepath.Join(dir, "log"))
	return dir
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ephemeralConfig(t *testing.T, bin string) Config {
	return Config{
		Ephemeral:   true,
		BinDir:      bin,
		DatabaseURL: "postgres://fake@127.0.0.1:1/edgeway",
		Regions:     []string{"us", "eu"},
		Mailpit:     "-",
		ReadyFile:   filepath.Join(t.TempDir(), "ready.json"),
	}
}

func waitFile(t *testing.T, path string, runErr <-chan error) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		select {
		case err := <-runErr:
			t.Fatalf("Run returned before ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no ready file %s", path)
	return nil
}

func pidsFromLog(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile(os.Getenv("FAKE_LOG"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, line := range strings.Split(string(b), "\n") {
		if _, p, ok := strings.Cut(line, "pid="); ok {
			var pid int
			fmt.Sscan(p, &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRunStartsEverythingAndStopsIt(t *testing.T) {
	bin := fakeBin(t, true)
	cfg := ephemeralConfig(t, bin)
	out := &syncBuffer{}
	cfg.Out = out

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- Run(ctx, cfg) }()

	var ready Ready
	if err := json.Unmarshal(waitFile(t, cfg.ReadyFile, runErr), &ready); err != nil {
		t.Fatal(err)
	}
	if ready.AdminEmail != AdminEmail || len(ready.AdminPassword) < 16 {
		t.Errorf("login = %q / %q", ready.AdminEmail, ready.AdminPassword)
	}
	if ready.DatabaseURL != cfg.DatabaseURL {
		t.Errorf("database_url = %q", ready.DatabaseURL)
	}
	if len(ready.Edges) != 2 || ready.Edges[0].Region != "us" || ready.Edges[1].Region != "eu" {
		t.Fatalf("edges = %+v", ready.Edges)
	}
	for _, e := range ready.Edges {
		if e.BaseDomain != e.Region+".localhost" || e.TCPPorts == "" || e.OpsAddr == "" {
			t.Errorf("edge = %+v", e)
		}
	}
	resp, err := http.Get(ready.DashboardURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	log, _ := os.ReadFile(os.Getenv("FAKE_LOG"))
	for _, want := range []string{
		"migrate \n",
		"seed -email admin@edgeway.local -password " + ready.AdminPassword + " -account Demo -reset-password\n",
		"env EDGEWAY_PUBLIC_URL=" + ready.DashboardURL + "\n",
		"env EDGEWAY_CONTROL_ADDR=" + ready.ControlAddr + "\n",
		"edge us pid=", "edge eu pid=",
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("fake log lacks %q:\n%s", want, log)
		}
	}
	var edgesEnv []Edge
	for _, line := range strings.Split(string(log), "\n") {
		if v, ok := strings.CutPrefix(line, "env EDGEWAY_EDGES="); ok {
			json.Unmarshal([]byte(v), &edgesEnv)
		}
	}
	if !slices.Equal(edgesEnv, ready.Edges) {
		t.Errorf("EDGEWAY_EDGES = %+v, want %+v", edgesEnv, ready.Edges)
	}
	if !strings.Contains(out.String(), "bff     | did migrate") || !strings.Contains(out.String(), "Edgeway is running") {
		t.Errorf("output lacks prefixed lines or banner:\n%s", out)
	}

	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run after cancel = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, pid := range pidsFromLog(t) {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("child %d still running after Run returned (kill 0: %v)", pid, err)
		}
	}
	if _, err := os.Stat(cfg.ReadyFile); !os.IsNotExist(err) {
		t.Errorf("ready file left behind: %v", err)
	}
	if _, err := os.Stat(ready.DataDir); !os.IsNotExist(err) {
		t.Errorf("ephemeral data dir left behind: %v", err)
	}
	if !strings.Contains(out.String(), "edge-us | stopping") {
		t.Errorf("edge did not get SIGTERM:\n%s", out)
	}
}

func TestRunFailsWhenAChildDies(t *testing.T) {
	bin := fakeBin(t, true)
	cfg := ephemeralConfig(t, bin)
	out := &syncBuffer{}
	cfg.Out = out
	t.Setenv("FAKE_CRASH_AFTER", "1500ms")

	errc := make(chan error, 1)
	go func() { errc <- Run(context.Background(), cfg) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "exited unexpectedly") {
			t.Fatalf("Run = %v, want an unexpected exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not notice the crash")
	}
	for _, pid := range pidsFromLog(t) {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("child %d still running after Run returned", pid)
		}
	}
}

func TestRunWithoutEdgeBinary(t *testing.T) {
	bin := fakeBin(t, false)
	cfg := ephemeralConfig(t, bin)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- Run(ctx, cfg) }()
	var ready Ready
	if err := json.Unmarshal(waitFile(t, cfg.ReadyFile, runErr), &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Edges == nil || len(ready.Edges) != 0 {
		t.Errorf("edges = %#v, want empty list", ready.Edges)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}

func TestRunWithoutBFF(t *testing.T) {
	cfg := ephemeralConfig(t, t.TempDir())
	err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("Run = %v, want a missing-bff error", err)
	}
}

func TestDemoPasswordIsKept(t *testing.T) {
	dir := t.TempDir()
	s := &stack{log: discardLog()}
	p1, err := s.demoPassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.demoPassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 || len(p1) < 16 {
		t.Errorf("passwords %q then %q", p1, p2)
	}
}

func TestPlanEdgesFixedPorts(t *testing.T) {
	pp := newPortPicker()
	defer pp.release()
	edges, err := planEdges(pp, []string{"us", "eu"}, 24000, 26000)
	if err != nil {
		t.Skipf("ports busy on this machine: %v", err)
	}
	want := []Edge{
		{Region: "us", HTTPAddr: "127.0.0.1:24000", HTTPSAddr: "127.0.0.1:24001", AgentAddr: "127.0.0.1:24002", OpsAddr: "127.0.0.1:24003", TCPPorts: "26000-26099", BaseDomain: "us.localhost"},
		{Region: "eu", HTTPAddr: "127.0.0.1:24010", HTTPSAddr: "127.0.0.1:24011", AgentAddr: "127.0.0.1:24012", OpsAddr: "127.0.0.1:24013", TCPPorts: "26100-26199", BaseDomain: "eu.localhost"},
	}
	if !slices.Equal(edges, want) {
		t.Errorf("planEdges = %+v\nwant %+v", edges, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b strings.Builder
	o := &output{w: &b, width: 5}
	w := o.writer("bff")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\r\nthree"))
	w.Flush()
	if got, want := b.String(), "bff   | one\nbff   | two\nbff   | three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRunPGOnlyCommand(t *testing.T) {
	cfg := ephemeralConfig(t, t.TempDir()) // no bff needed
	cfg.PGOnly = true
	cfg.Command = []string{"sh", "-c", `test "$DATABASE_URL" = "postgres://fake@127.0.0.1:1/edgeway" || exit 9; exit 3`}
	err := Run(context.Background(), cfg)
	var exit *CommandExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("Run = %v, want the command's exit status 3", err)
	}
	cfg.Command = []string{"true"}
	if err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("Run with a succeeding command = %v", err)
	}
}
