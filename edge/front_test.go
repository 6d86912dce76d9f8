package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawVisitor is a visitor speaking HTTP/1.1 by hand on one connection, to
// check what net/http's client would smooth over.
type rawVisitor struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	host string
}

func dialRaw(t *testing.T, te *testEdge, host string) *rawVisitor {
	t.Helper()
	c, err := net.Dial("tcp", te.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawVisitor{t: t, conn: c, br: bufio.NewReader(c), host: host}
}

func (v *rawVisitor) send(s string) {
	v.t.Helper()
	if _, err := io.WriteString(v.conn, strings.ReplaceAll(s, "HOST", v.host)); err != nil {
		v.t.Fatal(err)
	}
}

// read reads one response (for a request with method) and its body.
func (v *rawVisitor) read(method string) (*http.Response, string) {
	v.t.Helper()
	resp, err := http.ReadResponse(v.br, &http.Request{Method: method})
	if err != nil {
		v.t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatalf("reading a body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the edge closed the connection.
func (v *rawVisitor) closed() bool {
	_ = v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := v.br.ReadByte()
	return err == io.EOF
}

func frontTunnel(t *testing.T, h http.HandlerFunc) (*testEdge, string) {
	t.Helper()
	local := httptest.NewServer(h)
	t.Cleanup(local.Close)
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	u, _ := url.Parse(sess.Tunnels()[0].PublicURL)
	return te, u.Host
}

// TestFrontProtocol drives the public HTTP front end by hand: pipelining,
// HEAD, HTTP/1.0, 100-continue, trailers, hop-by-hop headers, early
// answers and error pages on a kept-alive connection.
func TestFrontProtocol(t *testing.T) {
	checkNoLeaks(t)
	te, host := frontTunnel(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Conn-Header", r.Header.Get("X-Hop"))
			w.Header().Set("X-Seen-Connection", r.Header.Get("Connection"))
			fmt.Fprintf(w, "%s %s", r.Method, b)
		case "/stream": // no length: chunked to HTTP/1.1 visitors
			w.Header().Set("Trailer", "X-Sum")
			fmt.Fprint(w, "part1 ")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "part2")
			w.Header().Set("X-Sum", "42")
		case "/hints": // 103 Early Hints, then the answer
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			fmt.Fprint(w, "final")
		case "/wrong-upgrade": // switches to a protocol nobody asked for
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
			_ = brw.Flush()
			_ = c.Close()
		case "/echo-upgrade": // switches, speaks first, then echoes 5 bytes
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello")
			_ = brw.Flush()
			b := make([]byte, 5)
			if _, err := io.ReadFull(brw, b); err == nil {
				_, _ = c.Write(b)
			}
		case "/early": // answers without reading the body
			w.Header().Set("Proxy-Authenticate", "hop-by-hop")
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		default:
			fmt.Fprint(w, r.URL.Path)
		}
	})

	t.Run("pipelined", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("GET /one HTTP/1.1\r\nHost: HOST\r\n\r\nGET /two HTTP/1.1\r\nHost: HOST\r\n\r\n")
		for _, want := range []string{"/one", "/two"} {
			if resp, body := v.read("GET"); resp.StatusCode != 200 || body != want {
				t.Fatalf("pipelined response: %d %q, want 200 %q", resp.StatusCode, body, want)
			}
		}
	})
	t.Run("head", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("HEAD /x HTTP/1.1\r\nHost: HOST\r\n\r\nGET /after-head HTTP/1.1\r\nHost: HOST\r\n\r\n")
		if resp, body := v.read("HEAD"); resp.StatusCode != 200 || body != "" {
			t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
		}
		if _, body := v.read("GET"); body != "/after-head" {
			t.Fatalf("after HEAD: %q", body)
		}
	})
	t.Run("http1.0", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("GET /stream HTTP/1.0\r\nHost: HOST\r\n\r\n")
		resp, body := v.read("GET")
		if body != "part1 part2" || len(resp.TransferEncoding) != 0 {
			t.Fatalf("HTTP/1.0 visitor: %q, transfer encoding %v (chunked is HTTP/1.1 only)", body, resp.TransferEncoding)
		}
		if !v.closed() {
			t.Fatal("a body without length to an HTTP/1.0 visitor must end with the connection")
		}
	})
	t.Run("chunked with trailers", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("GET /stream HTTP/1.1\r\nHost: HOST\r\nTE: trailers\r\n\r\n")
		resp, body := v.read("GET")
		if body != "part1 part2" || resp.Trailer.Get("X-Sum") != "42" {
			t.Fatalf("chunked: %q, trailer %v", body, resp.Trailer)
		}
	})
	t.Run("100-continue", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("POST /echo HTTP/1.1\r\nHost: HOST\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		line, err := v.br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("want 100 Continue before the body, got %q %v", line, err)
		}
		if blank, _ := v.br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue head not ended: %q", blank)
		}
		v.send("hello")
		if _, body := v.read("POST"); body != "POST hello" {
			t.Fatalf("after 100-continue: %q", body)
		}
	})
	t.Run("100-continue on a kept-alive connection", func(t *testing.T) {
		v := dialRaw(t, te, host)
		for i := 0; i < 2; i++ {
			v.send("POST /echo HTTP/1.1\r\nHost: HOST\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
			if line, _ := v.br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100 ") {
				t.Fatalf("request %d: want 100 Continue, got %q", i, line)
			}
			_, _ = v.br.ReadString('\n')
			v.send("ok")
			if _, body := v.read("POST"); body != "POST ok" {
				t.Fatalf("request %d: %q", i, body)
			}
		}
	})
	t.Run("early hints", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("GET /hints HTTP/1.1\r\nHost: HOST\r\n\r\n")
		tp := textproto.NewReader(v.br)
		line, err := tp.ReadLine()
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 103 ") {
			t.Fatalf("want 103 Early Hints first, got %q %v", line, err)
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil || !strings.Contains(h.Get("Link"), "style.css") {
			t.Fatalf("103 headers %v, %v: want its Link", h, err)
		}
		if resp, body := v.read("GET"); resp.StatusCode != 200 || body != "final" {
			t.Fatalf("after 103: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("upgrade with bytes already sent", func(t *testing.T) {
		// The visitor's first bytes of the new protocol arrive with its
		// request, and the local service's with its 101: both sides
		// start with buffered bytes that must not be lost.
		v := dialRaw(t, te, host)
		v.send("GET /echo-upgrade HTTP/1.1\r\nHost: HOST\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
		resp, err := http.ReadResponse(v.br, &http.Request{Method: "GET"})
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		got := make([]byte, 10)
		if _, err := io.ReadFull(v.br, got); err != nil || string(got) != "helloearly" {
			t.Fatalf("after the upgrade: %q, %v; want \"helloearly\"", got, err)
		}
	})
	t.Run("each answer counted once", func(t *testing.T) {
		before := httpRequestsByClass(t, te)
		v := dialRaw(t, te, host)
		v.send("GET /wrong-upgrade HTTP/1.1\r\nHost: HOST\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		if resp, _ := v.read("GET"); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("an upgrade to another protocol: %d, want 502", resp.StatusCode)
		}
		after := httpRequestsByClass(t, te)
		if after["5xx"]-before["5xx"] != 1 || after["1xx"] != before["1xx"] {
			t.Fatalf("requests by class before %v, after %v: want one more 5xx and no 1xx", before, after)
		}
	})
	t.Run("hop-by-hop", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("POST /echo HTTP/1.1\r\nHost: HOST\r\nConnection: X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nhi")
		resp, body := v.read("POST")
		if body != "POST hi" || resp.Header.Get("X-Conn-Header") != "" || resp.Header.Get("X-Seen-Connection") != "" {
			t.Fatalf("hop-by-hop headers reached the local service: %q %v", body, resp.Header)
		}
	})
	t.Run("early answer", func(t *testing.T) {
		v := dialRaw(t, te, host)
		v.send("POST /early HTTP/1.1\r\nHost: HOST\r\nContent-Length: 10000000\r\n\r\nsome")
		resp, _ := v.read("POST")
		if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Proxy-Authenticate") != "" {
			t.Fatalf("early answer: %d, headers %v (Proxy-Authenticate is hop-by-hop)", resp.StatusCode, resp.Header)
		}
		if !resp.Close || !v.closed() {
			t.Fatal("with the request body unread, the connection must close")
		}
	})
	t.Run("not found keeps the connection", func(t *testing.T) {
		v := dialRaw(t, te, "nobody.us.localhost")
		v.send("POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: HOST\r\n\r\n")
		for i := 0; i < 2; i++ {
			resp, body := v.read("GET")
			if resp.StatusCode != 404 || resp.Header.Get("X-Edgeway-Error-Code") != "ERR_TUNNEL_NOT_FOUND" || !strings.Contains(body, "nobody.us.localhost") {
				t.Fatalf("response %d: %d %s %q", i, resp.StatusCode, resp.Header.Get("X-Edgeway-Error-Code"), body)
			}
		}
	})
}

// TestFrontBadRequests: malformed or unsupported requests get a clear
// answer with a stable code, and the connection closes.
func TestFrontBadRequests(t *testing.T) {
	checkNoLeaks(t)
	te, host := frontTunnel(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	for _, tc := range []struct {
		name, req string
		status    int
		mention   string
	}{
		{"garbage", "HELLO\r\n\r\n", 400, "malformed"},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, "Host header"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: HOST\r\nHost: HOST\r\n\r\n", 400, "Host headers"},
		{"bad port", "GET / HTTP/1.1\r\nHost: HOST:x1\r\n\r\n", 400, "Host header"},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "CONNECT"},
		{"expectation", "GET / HTTP/1.1\r\nHost: HOST\r\nExpect: magic\r\n\r\n", 417, "100-continue"},
		{"length and chunked twice", "POST / HTTP/1.1\r\nHost: HOST\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Content-Length"},
		{"huge head", "GET / HTTP/1.1\r\nHost: HOST\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n", 431, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := dialRaw(t, te, host)
			go v.send(tc.req) // the edge may answer before reading it all
			resp, body := v.read("GET")
			if resp.StatusCode != tc.status || resp.Header.Get("X-Edgeway-Error-Code") != "ERR_BAD_REQUEST" || !strings.Contains(body, tc.mention) {
				t.Fatalf("%d %s %q, want %d ERR_BAD_REQUEST mentioning %q", resp.StatusCode, resp.Header.Get("X-Edgeway-Error-Code"), body, tc.status, tc.mention)
			}
			if !v.closed() {
				t.Fatal("the connection stayed open after a bad request")
			}
		})
	}
}

// TestFrontDrain: a request in flight when the edge starts draining gets
// its answer (closing its connection); idle kept-alive connections close.
func TestFrontDrain(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	te, host := frontTunnel(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "done")
	})
	idle := dialRaw(t, te, host)
	idle.send("GET /warm HTTP/1.1\r\nHost: HOST\r\n\r\n")
	if _, body := idle.read("GET"); body != "done" {
		t.Fatalf("warm-up: %q", body)
	}
	busy := dialRaw(t, te, host)
	busy.send("GET /slow HTTP/1.1\r\nHost: HOST\r\n\r\n")
	<-started
	stopped := make(chan struct{})
	go func() { te.stop(); close(stopped) }()
	if !idle.closed() {
		t.Fatal("an idle kept-alive connection stayed open through the drain")
	}
	close(release)
	resp, body := busy.read("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("in-flight request during the drain: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the edge did not finish draining")
	}
}

// httpRequestsByClass reads edgeway_edge_http_requests_total from the
// edge's /metrics.
func httpRequestsByClass(t *testing.T, te *testEdge) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + te.OpsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "edgeway_edge_http_requests_total{") {
			continue
		}
		i := strings.Index(line, `code="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < 0 {
			continue
		}
		class := line[i+6 : i+6+strings.IndexByte(line[i+6:], '"')]
		var n float64
		_, _ = fmt.Sscan(line[j+1:], &n)
		out[class] = n
	}
	return out
}
