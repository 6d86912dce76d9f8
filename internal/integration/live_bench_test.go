package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/gorilla/websocket"
)

// BenchmarkLiveRowLatency measures, through the real bff, the time from an edge reporting a new
// agent session to its row arriving in every one of 50 open Agents pages, with 1,000 sessions
// online. Target (issue 4): p99 under 300 ms. The edge is a scripted one speaking the real
// control channel (TLS, edge token), so 1,000 sessions need no 1,000 agent processes.
func BenchmarkLiveRowLatency(b *testing.B) {
	const online, viewers, samples = 1000, 50, 50
	acct := newAccount(b)
	var me struct{ ID string }
	if s := acct.api("GET", "/account", "", &me); s != 200 || me.ID == "" {
		b.Fatalf("GET /account = %d", s)
	}
	// The plan's agent-session limit applies when agents sign in; a scripted edge reports
	// sessions directly, so 1,000 fit any plan here.
	ctl := dialScriptedEdge(b)
	now := time.Now().UnixMilli()
	for i := 0; i < online; i++ {
		if err := ctl.Send(proto.TypeSessionStarted, proto.SessionInfo{ID: ids.New(ids.TunnelSession), AccountID: me.ID,
			CredentialID: "cr_bench", RemoteAddr: "127.0.0.1:1", StartedUnixMilli: now}); err != nil {
			b.Fatal(err)
		}
	}
	// 50 tabs with the Agents page's websocket open.
	type tab struct {
		mu   sync.Mutex
		seen map[string]time.Time
	}
	tabs := make([]*tab, viewers)
	dialer := websocket.Dialer{Jar: acct.jar, HandshakeTimeout: 10 * time.Second}
	wsURL := "ws" + strings.TrimPrefix(stack.DashboardURL, "http") + "/agents/live?region=&q="
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range tabs {
		c, _, err := dialer.Dial(wsURL, http.Header{"Origin": {stack.DashboardURL}})
		if err != nil {
			b.Fatalf("viewer %d: %v", i, err)
		}
		conns = append(conns, c)
		t := &tab{seen: map[string]time.Time{}}
		tabs[i] = t
		go func() {
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				at := time.Now()
				s := string(msg)
				t.mu.Lock()
				for idx := strings.Index(s, `data-session-id="`); idx >= 0; idx = strings.Index(s, `data-session-id="`) {
					s = s[idx+len(`data-session-id="`):]
					id := s[:strings.IndexByte(s, '"')]
					if _, ok := t.seen[id]; !ok {
						t.seen[id] = at
					}
				}
				t.mu.Unlock()
			}
		}()
	}
	b.ResetTimer()
	var lat []time.Duration
	for n := 0; n < b.N; n++ {
		for i := 0; i < samples; i++ {
			id := ids.New(ids.TunnelSession)
			sent := time.Now()
			if err := ctl.Send(proto.TypeSessionStarted, proto.SessionInfo{ID: id, AccountID: me.ID, CredentialID: "cr_bench",
				RemoteAddr: "127.0.0.1:1", StartedUnixMilli: sent.UnixMilli()}); err != nil {
				b.Fatal(err)
			}
			deadline := sent.Add(10 * time.Second)
			var last time.Time
			for _, t := range tabs {
				for {
					t.mu.Lock()
					at, ok := t.seen[id]
					t.mu.Unlock()
					if ok {
						if at.After(last) {
							last = at
						}
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("session %s never reached a viewer", id)
					}
					time.Sleep(time.Millisecond)
				}
			}
			lat = append(lat, last.Sub(sent))
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	fmt.Fprintf(os.Stderr, "live row latency, %d sessions online, %d viewers, %d samples: p50 %.1f ms, p99 %.1f ms (target p99 < 300 ms)\n",
		online, viewers, len(lat), p(0.5), p(0.99))
}

// BenchmarkStopToExit measures the time from POST /tunnel_sessions/{id}/stop to the agent
// process having exited, on loopback. Target (issue 4): p99 under 100 ms.
func BenchmarkStopToExit(b *testing.B) {
	acct := newAccount(b)
	_, token := acct.authtoken()
	port := localServer(b, "x")
	var lat []time.Duration
	for n := 0; n < b.N; n++ {
		for i := 0; i < 10; i++ {
			ag := startAgent(b, token, "http", port, "--region", "us")
			id := ag.waitFor(sessionRe, 0)
			start := time.Now()
			if s := acct.api("POST", "/tunnel_sessions/"+id+"/stop", "", nil); s != 204 {
				b.Fatalf("stop = %d", s)
			}
			ag.waitExit(10 * time.Second)
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	fmt.Fprintf(os.Stderr, "stop call to agent exit, %d samples: p50 %.1f ms, p99 %.1f ms (target p99 < 100 ms)\n", len(lat), p(0.5), p(0.99))
}

// dialScriptedEdge opens the control channel as an edge of region us would.
func dialScriptedEdge(tb testing.TB) *proto.Control {
	tb.Helper()
	pem, err := os.ReadFile(stack.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	raw, err := net.Dial("tcp", stack.ControlAddr)
	if err != nil {
		tb.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(stack.ControlAddr)
	conn := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
	mux, err := proto.Client(conn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { mux.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var w proto.EdgeWelcome
	if err := proto.Call(ctx, mux, proto.TypeEdgeHello, proto.EdgeHello{Version: proto.Version, Token: stack.EdgeToken,
		EdgeID: "edge_us_bench_" + ids.New("x")[2:10], Region: "us"}, &w); err != nil {
		tb.Fatal(err)
	}
	stream, err := mux.Open()
	if err != nil {
		tb.Fatal(err)
	}
	if err := proto.WriteFrame(stream, proto.TypeEdgeControl, proto.EdgeSnapshot{}); err != nil {
		tb.Fatal(err)
	}
	ctl := proto.NewControl(stream, nil)
	go ctl.Run(context.Background())
	return ctl
}
