package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/devca"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

func TestParseArgs(t *testing.T) {
	env := map[string]string{"EDGEWAY_AUTHTOKEN": "tok", "EDGEWAY_CONFIG": filepath.Join(t.TempDir(), "none.yml")}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, c *Config)
		wantErr []string
	}{
		{
			name: "http port with flags after",
			args: []string{"http", "8080", "--domain", "app", "--region", "EU"},
			check: func(t *testing.T, c *Config) {
				if c.Proto != "http" || c.Local != "localhost:8080" || c.Domain != "app" || c.Region != "eu" || c.Authtoken != "tok" {
					t.Fatalf("config %+v", c)
				}
			},
		},
		{
			name: "tcp with flags before",
			args: []string{"--region", "auto", "tcp", "127.0.0.1:22", "--remote-addr", ":20001"},
			check: func(t *testing.T, c *Config) {
				if c.Proto != "tcp" || c.Local != "127.0.0.1:22" || c.RemoteAddr != ":20001" || c.Region != region.Auto {
					t.Fatalf("config %+v", c)
				}
			},
		},
		{
			name: "default edges are the local stack's",
			args: []string{"http", "http://localhost:3000/"},
			check: func(t *testing.T, c *Config) {
				if c.Local != "localhost:3000" || c.Edges["us"] != "127.0.0.1:9002" || c.Edges["in"] != "127.0.0.1:9062" {
					t.Fatalf("config %+v", c)
				}
			},
		},
		{
			name:    "every problem at once",
			args:    []string{"http", "0", "--region", "mars", "--remote-addr", ":1", "--edges", "xx=1,eu", "--log-level", "loud"},
			wantErr: []string{"port 0 is out of range", `unknown region "mars"`, "--remote-addr applies to tcp", `edge "xx=1"`, `edge "eu"`, "log level"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseArgs(tt.args, getenv, io.Discard)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not mention %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"ftp", "21"}, `unknown command "ftp"`},
		{"no authtoken", []string{"http", "8080"}, "no authtoken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tt.args, noConfig(t), io.Discard, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func startEdge(t *testing.T, code region.Code, latency time.Duration) *edge.Server {
	t.Helper()
	srv, err := edge.New(edge.Config{
		Region: code, HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0",
		AddedLatency: latency, DrainTimeout: time.Second,
	}, nil, edge.StaticTokens{"tok": "ac_1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return srv
}

func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if strings.Contains(out.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("output never contained %q:\n%s", want, out.String())
}

// TestAutoRegionHTTPAndRemoteStop runs the command against two in-process
// edges: it must pick the closer one, forward HTTP, and exit 0 when stopped
// remotely.
func TestAutoRegionHTTPAndRemoteStop(t *testing.T) {
	statusEvery = 50 * time.Millisecond
	far := startEdge(t, "us", 80*time.Millisecond)
	near := startEdge(t, "ap", 0)
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello from local"))
	}))
	defer local.Close()

	edges := "us=" + far.AgentAddr().String() + ",ap=" + near.AgentAddr().String()
	dir := t.TempDir()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(),
			[]string{"http", local.Listener.Addr().String(), "--domain", "cli", "--plaintext", "--edges", edges},
			func(k string) string {
				return map[string]string{"EDGEWAY_AUTHTOKEN": "tok", "EDGEWAY_CONFIG": filepath.Join(dir, "none.yml")}[k]
			}, &stdout, &stderr)
	}()
	port := near.HTTPAddr().(*net.TCPAddr).Port
	waitOutput(t, &stdout, "Forwarding        http://cli.ap.localhost:")
	if !strings.Contains(stdout.String(), "auto: ap (Asia/Pacific (Singapore))") {
		t.Fatalf("did not report the auto choice:\n%s", stdout.String())
	}

	req, _ := http.NewRequest("GET", "http://"+near.HTTPAddr().String()+"/", nil)
	req.Host = "cli.ap.localhost:" + strconv.Itoa(port)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from local" {
		t.Fatalf("through the tunnel: %d %q", resp.StatusCode, body)
	}
	waitOutput(t, &stdout, "Connections       total 1, open 1, edge latency")

	sessions := near.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("sessions %+v", sessions)
	}
	if err := near.StopSession(context.Background(), sessions[0].ID, "stopped by a test"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after remote stop; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit after remote stop")
	}
	if !strings.Contains(stdout.String(), "stopped remotely: stopped by a test") {
		t.Fatalf("stop reason not printed:\n%s", stdout.String())
	}
}

func TestBadAuthtokenExitsOne(t *testing.T) {
	srv := startEdge(t, "us", 0)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"tcp", "22", "--plaintext", "--authtoken", "bad", "--server-addr", srv.AgentAddr().String()},
		noConfig(t), io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "ERR_AUTH_FAILED") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// noConfig is a getenv pointing the config file at a missing path.
func noConfig(t *testing.T) func(string) string {
	path := filepath.Join(t.TempDir(), "none.yml")
	return func(k string) string {
		if k == "EDGEWAY_CONFIG" {
			return path
		}
		return ""
	}
}

func TestConfigFileStartAndAddAuthtoken(t *testing.T) {
	srv := startEdge(t, "eu", 0)
	path := filepath.Join(t.TempDir(), "agent.yml")
	getenv := func(k string) string { return map[string]string{"EDGEWAY_CONFIG": path}[k] }

	var out bytes.Buffer
	if code := run(context.Background(), []string{"config", "add-authtoken", "tok"}, getenv, &out, io.Discard); code != 0 {
		t.Fatalf("add-authtoken exit %d", code)
	}
	if !strings.Contains(out.String(), "Authtoken saved to "+path) {
		t.Fatalf("output %q", out.String())
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	fmt.Fprintf(f, "server_addr: %s\nplaintext: true\nremote_management: false\ntunnels:\n  web: {proto: http, addr: %q, domain: fromfile}\n  db: {proto: tcp, addr: 5432}\n",
		srv.AgentAddr(), web.Listener.Addr().String())
	f.Close()

	var stdout syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"start", "web"}, getenv, &stdout, io.Discard) }()
	waitOutput(t, &stdout, "Forwarding        http://fromfile.eu.localhost:")
	if strings.Contains(stdout.String(), "tcp://") {
		t.Fatal("started a tunnel that was not named")
	}
	// remote_management: false refuses a remote stop.
	id := srv.Sessions()[0].ID
	if err := srv.StopSession(context.Background(), id, "try"); err == nil || !strings.Contains(err.Error(), "ERR_REMOTE_MANAGEMENT_DISABLED") {
		t.Fatalf("stop with remote management disabled: %v", err)
	}
	if len(srv.Sessions()) != 1 {
		t.Fatal("agent obeyed a stop despite remote_management: false")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestTLSWithDevelopmentCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := devca.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "edge.pem"), filepath.Join(dir, "edge-key.pem")
	if err := ca.IssueFiles(certFile, keyFile, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	srv, err := edge.New(edge.Config{
		Region: "us", HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile, DrainTimeout: time.Second,
	}, nil, edge.StaticTokens{"tok": "ac_1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }()

	args := []string{"http", "8080", "--authtoken", "tok", "--server-addr", srv.AgentAddr().String()}
	// Without the CA the edge's certificate is not trusted.
	var stderr bytes.Buffer
	if code := run(ctx, args, noConfig(t), io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "certificate") {
		t.Fatalf("untrusted edge: exit %d\n%s", code, stderr.String())
	}
	// With --ca it connects over TLS.
	var stdout syncBuffer
	actx, acancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(actx, append(args, "--ca", filepath.Join(dir, "ca.pem")), noConfig(t), &stdout, &stdout)
	}()
	waitOutput(t, &stdout, "Forwarding        http://")
	acancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// reservedIn refuses "app" on this edge: it is reserved in region other.
type reservedIn struct{ other string }

func (r reservedIn) CheckBind(_ context.Context, req proto.BindCheckRequest) (bool, error) {
	if strings.HasPrefix(req.Name, "app.") {
		e := proto.Errorf(proto.CodeDomainOtherRegion, "%s is reserved in region %s", req.Name, r.other)
		e.Details = map[string]string{"region": r.other}
		return false, e
	}
	return false, nil
}

func TestAutoRegionFollowsReservation(t *testing.T) {
	near := startEdge(t, "us", 0)
	near.SetBindChecker(reservedIn{"eu"})
	far := startEdge(t, "eu", 40*time.Millisecond)
	var stdout syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"http", "127.0.0.1:1", "--domain", "app", "--plaintext", "--authtoken", "tok",
			"--edges", "us=" + near.AgentAddr().String() + ",eu=" + far.AgentAddr().String()}, noConfig(t), &stdout, &stdout)
	}()
	waitOutput(t, &stdout, "Forwarding        http://app.eu.localhost:")
	if !strings.Contains(stdout.String(), "auto: us") || !strings.Contains(stdout.String(), "eu (Europe (Frankfurt)), where the tunnel's name is reserved") {
		t.Fatalf("the agent did not say why it changed region:\n%s", stdout.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
