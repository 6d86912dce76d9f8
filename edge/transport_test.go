package edge_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPKeepAliveToLocalService: sequential requests through the edge
// share one connection to the local service (a pooled proxy stream), and
// a response body left unread does not poison the pool.
func TestHTTPKeepAliveToLocalService(t *testing.T) {
	checkNoLeaks(t)
	var conns atomic.Int32
	local := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write([]byte(strings.Repeat("b", 1<<20)))
			return
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	local.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	local.Start()
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	pub := sess.Tunnels()[0].PublicURL
	c := te.client(t)
	for i := 0; i < 100; i++ {
		body := get(t, c, fmt.Sprintf("%s/%d", pub, i))
		if body != fmt.Sprintf("/%d", i) {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("100 sequential requests opened %d connections to the local service, want 1", n)
	}
	// A visitor that reads part of a large body and hangs up: the stream
	// behind it is dropped, not reused with the rest of the body unread.
	resp, err := c.Get(pub + "/big")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadFull(resp.Body, make([]byte, 1000))
	resp.Body.Close()
	c.CloseIdleConnections()
	for i := 0; i < 10; i++ {
		if body := get(t, c, fmt.Sprintf("%s/after-%d", pub, i)); body != fmt.Sprintf("/after-%d", i) {
			t.Fatalf("after an abandoned body, request %d: body %q", i, body)
		}
	}
}

// TestHTTPLocalServiceClosesConnections: a local service that closes
// every connection after one response, without saying so (no
// "Connection: close"), and one that ends bodies by closing (no length).
// Every visitor request still gets its answer: the edge drops streams the
// agent closed, and sends an idempotent request again when one closes
// just as it is reused.
func TestHTTPLocalServiceClosesConnections(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				n := served.Add(1)
				if n%2 == 0 {
					// Body delimited by the end of the connection.
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited %s", req.URL.Path)
					return
				}
				body := "sized " + req.URL.Path
				fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(ln.Addr().String()))
	pub := sess.Tunnels()[0].PublicURL
	c := te.client(t)
	for i := 0; i < 40; i++ {
		path := fmt.Sprintf("/r%d", i)
		body := get(t, c, pub+path)
		if body != "sized "+path && body != "close-delimited "+path {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
}

// TestHTTPVisitorCancels: a visitor that gives up while the local service
// is still thinking. The edge closes the stream (the local service sees
// its connection end), and nothing leaks.
func TestHTTPVisitorCancels(t *testing.T) {
	checkNoLeaks(t)
	gone := make(chan struct{})
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done() // the connection to the agent closed
			close(gone)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	pub := sess.Tunnels()[0].PublicURL
	c := te.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", pub+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.AfterFunc(100*time.Millisecond, cancel)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the local service never saw the cancelled request's connection end")
	}
	if err := <-errc; err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	if body := get(t, c, pub+"/next"); body != "ok" {
		t.Fatalf("next request: %q", body)
	}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
