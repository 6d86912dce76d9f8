package edge

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// scriptConn is a visitor connection that sends a fixed input, then EOF,
// and records what the edge writes.
type scriptConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4321}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzFrontRequest feeds arbitrary bytes to the public HTTP front end (no
// tunnel is bound, so every request is routed and answered by the edge
// itself). Whatever comes in, the edge must not panic, and what it writes
// must be a sequence of well-formed HTTP/1.1 responses carrying a stable
// error code.
func FuzzFrontRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a.us.localhost\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.us.localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: b.us.localhost:8080\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a.us.localhost\r\nContent-Length: 3\r\n\r\nabc",
		"POST /x HTTP/1.1\r\nHost: a.us.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
		"GET / HTTP/1.0\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close, X-Y\r\nX-Y: 1\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET http://a.us.localhost/abs HTTP/1.1\r\nHost: other\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Region: "us", HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0",
		TCPPorts: PortRange{Min: 40000, Max: 40001}}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			return // heads over the limit are TestFrontBadRequests' (431); big inputs only slow the fuzzer
		}
		c := &scriptConn{in: bytes.NewReader(in)}
		fc := newFrontConn(s, c, false)
		if !s.front.add(fc) {
			t.Fatal("front refused a connection")
		}
		done := make(chan struct{})
		go func() { fc.serve(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			panic("serve hung:\n" + string(buf[:runtime.Stack(buf, true)]))
		}
		br := bufio.NewReader(&c.out)
		for n := 0; ; n++ {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				t.Fatalf("response %d is not well-formed HTTP: %v\nwrote: %q", n, err, c.out.String())
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("response %d body: %v", n, err)
			}
			if resp.StatusCode < 400 || resp.Header.Get("X-Edgeway-Error-Code") == "" {
				t.Fatalf("response %d: %d without an error code (no tunnel is bound)", n, resp.StatusCode)
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") && resp.ContentLength == 0 {
				t.Fatalf("response %d: an empty error answer", n)
			}
		}
	})
}
