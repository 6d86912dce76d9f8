package edge_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/devca"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/hashicorp/yamux"
)

const testToken = "tok_test_123"

// testLog returns a logger that writes to the test log when EDGEWAY_TEST_LOG
// is set, and discards otherwise.
func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("EDGEWAY_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// freePortRange returns a range of n ports that were free a moment ago.
func freePortRange(t testing.TB, n int) edge.PortRange {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		start := 31000 + rand.IntN(20000)
		ok := true
		for p := start; p < start+n; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return edge.PortRange{Min: start, Max: start + n - 1}
		}
	}
	t.Fatal("no free port range")
	return edge.PortRange{}
}

type testEdge struct {
	*edge.Server
	stop func()
	ca   *devca.CA
}

type edgeOpt func(*edge.Config)

// startEdge starts an edge on loopback ports in region us. It stops at
// the end of the test.
func startEdge(t testing.TB, opts ...edgeOpt) *testEdge {
	t.Helper()
	cfg := edge.Config{
		Region:           "us",
		HTTPAddr:         "127.0.0.1:0",
		AgentAddr:        "127.0.0.1:0",
		OpsAddr:          "127.0.0.1:0",
		TCPPorts:         freePortRange(t, 4),
		TCPHost:          "127.0.0.1",
		DrainTimeout:     2 * time.Second,
		HandshakeTimeout: 2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := edge.New(cfg, testLog(t), edge.StaticTokens{testToken: "ac_test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	te := &testEdge{Server: srv}
	te.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("edge Serve: %v", err)
			}
		})
	}
	t.Cleanup(te.stop)
	return te
}

// withTLS makes the edge's agent listener speak TLS with a certificate from
// a fresh development CA, kept in te.ca by startTLSEdge.
func startTLSEdge(t testing.TB, opts ...edgeOpt) *testEdge {
	t.Helper()
	ca, err := devca.NewCA("test ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	if err := devca.WriteFiles(cert, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	te := startEdge(t, append(opts, func(c *edge.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })...)
	te.ca = ca
	return te
}

func (te *testEdge) agentConfig(tunnels ...agent.Tunnel) agent.Config {
	cfg := agent.Config{
		ServerAddr: te.AgentAddr().String(),
		Authtoken:  testToken,
		Tunnels:    tunnels,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	}
	if te.ca != nil {
		cfg.TLS = &tls.Config{RootCAs: te.ca.Pool()}
	}
	return cfg
}

// connect starts an agent session that closes at the end of the test.
func (te *testEdge) connect(t testing.TB, tunnels ...agent.Tunnel) *agent.Session {
	t.Helper()
	cfg := te.agentConfig(tunnels...)
	cfg.Log = testLog(t)
	s, err := agent.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("agent connect: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client returns an HTTP client that sends every request to the edge's
// public HTTP listener, whatever the URL's host.
func (te *testEdge) client(t testing.TB) *http.Client {
	t.Helper()
	addr := te.HTTPAddr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 256,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// tcpAddr returns the loopback address of a tcp:// public URL.
func tcpAddr(t testing.TB, publicURL string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(publicURL, "tcp://")
	if !ok {
		t.Fatalf("not a tcp url: %s", publicURL)
	}
	_, port, err := net.SplitHostPort(rest)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + port
}

// httpLocal is an HTTP tunnel to addr.
func httpLocal(addr string) agent.Tunnel {
	return agent.Tunnel{Proto: proto.ProtoHTTP, LocalAddr: addr}
}

// tcpLocal is a TCP tunnel to addr.
func tcpLocal(addr string) agent.Tunnel {
	return agent.Tunnel{Proto: proto.ProtoTCP, LocalAddr: addr}
}

// checkNoLeaks fails the test if goroutines started during it are still
// running once its other cleanups ran. Call it first in the test.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before, fdsBefore, pipesBefore := runtime.NumGoroutine(), openFDs(), yamux.OpenPipes()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, fds, pipes := runtime.NumGoroutine(), openFDs(), yamux.OpenPipes()
			if n <= before && fds <= fdsBefore && pipes <= pipesBefore {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("leak: goroutines %d before, %d after; file descriptors %d before, %d after %v; yamux splice pipes %d before, %d after\n%s",
					before, n, fdsBefore, fds, fdTargets(), pipesBefore, pipes, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func fdTargets() []string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+target)
	}
	return out
}

// openFDs counts the process's open file descriptors, pipes aside (0 where /proc is
// missing, which disables the check).
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		// The runtime pools pipes for splice(2) in io.Copy between TCP
		// connections and frees them lazily: not ours to count (yamux's
		// own splice pipes are counted by yamux.OpenPipes).
		if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

// echoServer starts a TCP server that echoes everything back.
func echoServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type edgeConfig = edge.Config

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test against a self-signed edge
