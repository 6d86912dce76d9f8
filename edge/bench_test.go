package edge_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgeway/edgeway/internal/proto"
)

// sinkServer accepts connections and either discards what it reads
// (upload) or writes zeros forever (download), and reports bytes read
// when the peer half-closes.
func sinkServer(b *testing.B, download bool) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if download {
					buf := make([]byte, proto.CopyBufferSize)
					for {
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}
				n, _ := proto.Copy(io.Discard, c)
				_, _ = c.Write([]byte{byte(n)}) // done marker
			}()
		}
	}()
	return ln.Addr().String()
}

const benchChunk = 1 << 20

func benchUpload(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadFull(c, buf[:1]); err != nil { // wait for delivery of everything
		b.Fatal(err)
	}
	b.StopTimer()
}

func benchDownload(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkTCPThroughput compares bulk TCP through an in-process edge and
// agent (plain and TLS agent connection) with a direct loopback
// connection. Run: go test -run '^$' -bench TCPThroughput ./edge/
func BenchmarkTCPThroughput(b *testing.B) {
	for _, dir := range []string{"upload", "download"} {
		run := benchUpload
		if dir == "download" {
			run = benchDownload
		}
		b.Run(dir+"/direct", func(b *testing.B) {
			run(b, sinkServer(b, dir == "download"))
		})
		b.Run(dir+"/edge+agent", func(b *testing.B) {
			te := startEdge(b)
			sess := te.connect(b, tcpLocal(sinkServer(b, dir == "download")))
			run(b, tcpAddr(b, sess.Tunnels()[0].PublicURL))
		})
		b.Run(dir+"/edge+agent+ip-restriction", func(b *testing.B) {
			te := startEdge(b)
			te.SetIPPolicies(true, benchIPPolicy("ac_test"))
			sess := te.connect(b, tcpLocal(sinkServer(b, dir == "download")))
			run(b, tcpAddr(b, sess.Tunnels()[0].PublicURL))
		})
		b.Run(dir+"/edge+agent-tls", func(b *testing.B) {
			te := startTLSEdge(b)
			sess := te.connect(b, tcpLocal(sinkServer(b, dir == "download")))
			run(b, tcpAddr(b, sess.Tunnels()[0].PublicURL))
		})
	}
}

// BenchmarkHTTPRequest measures small HTTP requests through edge and agent
// over a keep-alive client connection.
func BenchmarkHTTPRequest(b *testing.B) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(local.Close)
	b.Run("direct", func(b *testing.B) {
		benchHTTP(b, &http.Client{}, local.URL)
	})
	b.Run("edge+agent", func(b *testing.B) {
		te := startEdge(b)
		sess := te.connect(b, httpLocal(local.Listener.Addr().String()))
		benchHTTP(b, te.client(b), sess.Tunnels()[0].PublicURL)
	})
	// The same requests through a TCP tunnel: the floor for the HTTP
	// front end, which also parses and rewrites each request.
	b.Run("edge+agent-tcp-tunnel", func(b *testing.B) {
		te := startEdge(b)
		sess := te.connect(b, tcpLocal(local.Listener.Addr().String()))
		benchHTTP(b, &http.Client{}, "http://"+tcpAddr(b, sess.Tunnels()[0].PublicURL))
	})
	// The same with an enforced endpoint IP restriction of 10,000 rules that lets the client in:
	// every request is decided before its stream to the agent opens.
	b.Run("edge+agent+ip-restriction", func(b *testing.B) {
		te := startEdge(b)
		te.SetIPPolicies(true, benchIPPolicy("ac_test"))
		sess := te.connect(b, httpLocal(local.Listener.Addr().String()))
		benchHTTP(b, te.client(b), sess.Tunnels()[0].PublicURL)
	})
}

// benchIPPolicy is an enforced endpoint restriction of 10,000 deny rules (10.0.0.0/24 ..) and
// an allow rule for loopback.
func benchIPPolicy(account string) proto.IPPolicySet {
	set := proto.IPPolicySet{AccountID: account, RestrictionID: "ipx_bench", Enforced: true,
		Rules: []proto.IPPolicyRule{{CIDR: "127.0.0.0/8", Action: "allow"}}}
	for i := 0; i < 10000; i++ {
		set.Rules = append(set.Rules, proto.IPPolicyRule{CIDR: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), Action: "deny"})
	}
	return set
}

func benchHTTP(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
