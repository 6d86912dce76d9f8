package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the edge command for the signal test.
func TestMain(m *testing.M) {
	if os.Getenv("EDGE_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func noEnv(string) string { return "" }

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{
			name: "unknown region",
			args: []string{"-region", "mars"},
			want: []string{`unknown region "mars"; valid regions: us, eu, ap, au, sa, jp, in`},
		},
		{
			name: "every problem at once",
			args: []string{"-region", "xx", "-tcp-ports", "9-1", "-http-addr", "nope", "-drain-timeout", "soon", "-log-level", "loud", "-tls-cert", "c.pem"},
			want: []string{"unknown region", "tcp ports", "http addr", "drain timeout", "log level", "tls: set both"},
		},
		{
			name: "environment",
			env:  map[string]string{"EDGEWAY_EDGE_REGION": "zz"},
			want: []string{`unknown region "zz"`},
		},
		{
			name: "stray argument",
			args: []string{"serve"},
			want: []string{"unexpected arguments: serve"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := run(context.Background(), tt.args, getenv, &stderr)
			if code != 2 {
				t.Fatalf("exit code = %d, want 2; stderr:\n%s", code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"EDGEWAY_EDGE_REGION":    "jp",
		"EDGEWAY_EDGE_TCP_PORTS": "21000-21009",
		"EDGEWAY_EDGE_HTTP_ADDR": "127.0.0.1:1",
	}
	cfg, err := loadConfig([]string{"-http-addr", "127.0.0.1:2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := cfg.Edge
	if e.Region != "jp" || e.BaseDomain != "jp.localhost" || e.TCPPorts.String() != "21000-21009" || e.HTTPAddr != "127.0.0.1:2" {
		t.Fatalf("unexpected config %+v", e)
	}
}

func startRun(t *testing.T, args ...string) (cancel func() int, ops string, httpAddr string) {
	t.Helper()
	ops, httpAddr = freeAddr(t), freeAddr(t)
	args = append([]string{"-ops-addr", ops, "-http-addr", httpAddr, "-agent-addr", freeAddr(t), "-tcp-ports", "", "-log-level", "error"}, args...)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, noEnv, io.Discard) }()
	waitHTTP(t, "http://"+ops+"/healthz")
	return func() int { stop(); return <-done }, ops, httpAddr
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func TestRunServesOpsAndNotFound(t *testing.T) {
	stop, ops, httpAddr := startRun(t, "-region", "sa")

	resp, err := http.Get("http://" + ops + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	if resp.StatusCode != 200 || raw["region"] != "sa" || raw["region_name"] != "South America (Sao Paulo)" || raw["status"] != "ok" {
		t.Fatalf("healthz = %d %v", resp.StatusCode, raw)
	}

	resp, err = http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `edgeway_edge_agent_sessions{region="sa"} 0`) || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics missing edge or go metrics:\n%.500s", body)
	}

	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/some/path", nil)
	req.Host = "nobody.sa.localhost"
	req.Header.Set("Accept", "text/html")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "Tunnel nobody.sa.localhost not found") ||
		resp.Header.Get("X-Edgeway-Error-Code") != "ERR_TUNNEL_NOT_FOUND" {
		t.Fatalf("unknown host answered %d %q:\n%s", resp.StatusCode, resp.Header, body)
	}

	if code := stop(); code != 0 {
		t.Fatalf("exit code after cancel = %d, want 0", code)
	}
}

func TestRunFailsWhenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stderr bytes.Buffer
	args := []string{"-http-addr", ln.Addr().String(), "-ops-addr", freeAddr(t), "-agent-addr", freeAddr(t), "-tcp-ports", ""}
	if code := run(context.Background(), args, noEnv, &stderr); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "listen http on "+ln.Addr().String()) {
		t.Fatalf("stderr does not name the address:\n%s", stderr.String())
	}
}

// TestSIGTERMDrainsAndExitsZero runs the real command in a child process.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	ops := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-region", "au", "-ops-addr", ops, "-http-addr", freeAddr(t), "-agent-addr", freeAddr(t), "-tcp-ports", "")
	cmd.Env = append(os.Environ(), "EDGE_TEST_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, "http://"+ops+"/healthz")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("edge exited with %v after SIGTERM; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("edge did not exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "edge drained") {
		t.Fatalf("no drain log line:\n%s", stderr.String())
	}
}
