package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

func TestHTTPRoundTrip(t *testing.T) {
	checkNoLeaks(t)
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Proto", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("X-Seen-Fwd-Host", r.Header.Get("X-Forwarded-Host"))
		_, _ = io.Copy(w, r.Body)
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	pub := sess.Tunnels()[0].PublicURL
	u, _ := url.Parse(pub)
	if !strings.HasSuffix(u.Hostname(), ".us.localhost") {
		t.Fatalf("public URL %s is not under us.localhost", pub)
	}
	c := te.client(t)

	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	req, _ := http.NewRequest("POST", pub+"/echo", bytes.NewReader(body))
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // a visitor cannot spoof it
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("status %d, echoed %d bytes equal=%v", resp.StatusCode, len(got), bytes.Equal(got, body))
	}
	for h, want := range map[string]string{
		"X-Seen-Host":     u.Host,
		"X-Seen-XFF":      "127.0.0.1",
		"X-Seen-Proto":    "http",
		"X-Seen-Fwd-Host": u.Host,
	} {
		if resp.Header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	// Many sequential requests reuse pooled streams.
	for i := 0; i < 50; i++ {
		resp, err := c.Post(pub, "text/plain", strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprint(i) {
			t.Fatalf("request %d echoed %q", i, b)
		}
	}
}

func TestHTTPSListener(t *testing.T) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer local.Close()
	te := startEdge(t, func(c *edgeConfig) { c.HTTPSAddr = "127.0.0.1:0" })
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	u, _ := url.Parse(sess.Tunnels()[0].PublicURL)
	addr := te.HTTPSAddr().String()
	if want := "https://" + u.Hostname() + ":" + strconv.Itoa(te.HTTPSAddr().(*net.TCPAddr).Port); sess.Tunnels()[0].HTTPSURL != want {
		t.Fatalf("https url %q, want %q", sess.Tunnels()[0].HTTPSURL, want)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: insecureTLS(),
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + u.Hostname() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "https" {
		t.Fatalf("X-Forwarded-Proto over https = %q", b)
	}
}

func TestHTTPStreamingResponse(t *testing.T) {
	release := make(chan struct{})
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	resp, err := te.client(t).Get(sess.Tunnels()[0].PublicURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event = %q, %v (must arrive before the handler finishes)", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("second event missing: %q", rest)
	}
}

func TestHTTPStreamingRequestBody(t *testing.T) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 1000)
		for i := 0; i < 100; i++ {
			_, _ = pw.Write(chunk)
		}
		pw.Close()
	}()
	resp, err := te.client(t).Post(sess.Tunnels()[0].PublicURL, "application/octet-stream", pr) // chunked
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "100000" {
		t.Fatalf("local service received %s bytes, want 100000", b)
	}
}

func TestWebSocketRoundTrip(t *testing.T) {
	checkNoLeaks(t)
	up := websocket.Upgrader{}
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))
	u, _ := url.Parse(sess.Tunnels()[0].PublicURL)
	addr := te.HTTPAddr().String()
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) { return net.Dial(network, addr) }}
	ws, resp, err := d.Dial("ws://"+u.Host+"/ws", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("hello %d", i)
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo: "+msg {
			t.Fatalf("got %q", got)
		}
	}
	big := bytes.Repeat([]byte("w"), 1<<20)
	if err := ws.WriteMessage(websocket.BinaryMessage, big); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.ReadMessage(); err != nil || len(got) != len(big)+6 {
		t.Fatalf("big message: %d bytes, %v", len(got), err)
	}
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

// TestTCPRoundTrip echoes 4 MiB three times through a TCP tunnel, over a
// TLS agent link and over a plain one (where the patched yamux splices
// both ways once the data is bulk); checkNoLeaks counts its pipes too.
func TestTCPRoundTrip(t *testing.T) {
	t.Run("tls", func(t *testing.T) { tcpRoundTrip(t, startTLSEdge) })
	t.Run("plain", func(t *testing.T) { tcpRoundTrip(t, startEdge) })
}

func tcpRoundTrip(t *testing.T, start func(testing.TB, ...edgeOpt) *testEdge) {
	checkNoLeaks(t)
	te := start(t)
	sess := te.connect(t, tcpLocal(echoServer(t)))
	pub := sess.Tunnels()[0].PublicURL
	if !strings.HasPrefix(pub, "tcp://us.localhost:") {
		t.Fatalf("public URL %s", pub)
	}
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", tcpAddr(t, pub))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 4<<20)
		_, _ = rand.Read(data)
		go func() {
			_, _ = c.Write(data)
			_ = c.(*net.TCPConn).CloseWrite() // half close: the echo still flows back
		}()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("conn %d: echoed %d of %d bytes, err %v", i, len(got), len(data), err)
		}
	}
}

func TestTCPRequestedPort(t *testing.T) {
	te := startEdge(t)
	r := te.Config().TCPPorts
	want := fmt.Sprintf(":%d", r.Max)
	tun := tcpLocal(echoServer(t))
	tun.RemoteAddr = want
	sess := te.connect(t, tun)
	if got := sess.Tunnels()[0].PublicURL; got != fmt.Sprintf("tcp://us.localhost:%d", r.Max) {
		t.Fatalf("public URL %s", got)
	}

	tests := []struct {
		name, addr, code string
	}{
		{"outside the range", fmt.Sprintf(":%d", r.Max+1), proto.CodePortOutOfRange},
		{"privileged", ":22", proto.CodePortOutOfRange},
		{"already online", want, proto.CodeEndpointOnline},
		{"garbage", "nope", proto.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := tcpLocal("127.0.0.1:1")
			tun.RemoteAddr = tt.addr
			_, err := agent.Connect(context.Background(), te.agentConfig(tun))
			if proto.CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestBadTokenRefused(t *testing.T) {
	checkNoLeaks(t)
	te := startTLSEdge(t)
	cfg := te.agentConfig(httpLocal("127.0.0.1:1"))
	cfg.Authtoken = "wrong"
	_, err := agent.Connect(context.Background(), cfg)
	if proto.CodeOf(err) != proto.CodeAuthFailed {
		t.Fatalf("err = %v, want %s", err, proto.CodeAuthFailed)
	}
	// Run gives up at once instead of retrying a bad token forever.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := agent.Run(ctx, cfg); proto.CodeOf(err) != proto.CodeAuthFailed {
		t.Fatalf("Run = %v, want %s", err, proto.CodeAuthFailed)
	}
}

func TestLocalServiceDown502(t *testing.T) {
	te := startEdge(t)
	tun := httpLocal(closedAddr(t))
	tun.Domain = "downapp"
	sess := te.connect(t, tun)
	pub := sess.Tunnels()[0].PublicURL
	req, _ := http.NewRequest("GET", pub+"/x", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := te.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || resp.Header.Get("X-Edgeway-Error-Code") != proto.CodeUpstreamUnreachable ||
		!strings.Contains(string(b), "Tunnel downapp.us.localhost is online") || !strings.Contains(string(b), tun.LocalAddr) {
		t.Fatalf("got %d %s:\n%s", resp.StatusCode, resp.Header.Get("X-Edgeway-Error-Code"), b)
	}
}

func TestDomains(t *testing.T) {
	te := startEdge(t)
	local := echoServer(t)
	port := te.HTTPAddr().(*net.TCPAddr).Port
	tun := httpLocal(local)
	tun.Domain = "MyApp"
	sess := te.connect(t, tun)
	if got, want := sess.Tunnels()[0].PublicURL, fmt.Sprintf("http://myapp.us.localhost:%d", port); got != want {
		t.Fatalf("public URL %s, want %s", got, want)
	}
	tests := []struct {
		name, domain, code string
	}{
		{"taken", "myapp", proto.CodeEndpointOnline},
		{"taken full name", "myapp.us.localhost", proto.CodeEndpointOnline},
		{"bad label", "-x", proto.CodeDomainInvalid},
		{"other base domain", "app.eu.localhost", proto.CodeDomainInvalid},
		{"nested", "a.b.us.localhost", proto.CodeDomainInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := httpLocal(local)
			tun.Domain = tt.domain
			_, err := agent.Connect(context.Background(), te.agentConfig(tun))
			if proto.CodeOf(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestPooling(t *testing.T) {
	te := startEdge(t)
	hits := make([]int, 2)
	var sessions []*agent.Session
	for i := range 2 {
		local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i]++
			w.Header().Set("Connection", "close") // new stream each time, so balancing shows
		}))
		defer local.Close()
		tun := httpLocal(local.Listener.Addr().String())
		tun.Domain, tun.Pooling = "pool", true
		sessions = append(sessions, te.connect(t, tun))
	}
	c := te.client(t)
	for range 10 {
		resp, err := c.Get(sessions[0].Tunnels()[0].PublicURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if hits[0] == 0 || hits[1] == 0 || hits[0]+hits[1] != 10 {
		t.Fatalf("hits %v: both pooled agents must serve", hits)
	}
	// One agent leaves; the other serves everything.
	_ = sessions[0].Close()
	waitFor(t, func() bool { return te.Health().Tunnels == 1 })
	for range 4 {
		resp, err := c.Get(sessions[1].Tunnels()[0].PublicURL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("after leave: %v %v", resp, err)
		}
		resp.Body.Close()
	}
}

func TestGhostSessionReplaced(t *testing.T) {
	te := startEdge(t)
	tun := httpLocal(echoServer(t))
	tun.Domain = "ghost"
	cfg := te.agentConfig(tun)
	cfg.ClientID = "client-1"
	first, err := agent.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// The same agent process reconnects while the edge still holds its
	// old session (laptop sleep): the name must not be "already online".
	second, err := agent.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("reconnect of the same client: %v", err)
	}
	defer second.Close()
	if second.ID() == first.ID() {
		t.Fatal("session id reused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Wait(ctx); err == nil {
		t.Fatal("old session still alive")
	}
	if h := te.Health(); h.Sessions != 1 || h.Tunnels != 1 {
		t.Fatalf("health after replacement: %+v", h)
	}
}

func TestRemoteStopAndRestart(t *testing.T) {
	te := startEdge(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		command  func(id string) error
		disabled bool
		want     string
	}{
		{name: "stop", command: func(id string) error { return te.StopSession(ctx, id, "stopped from the dashboard") }, want: "stop"},
		{name: "restart", command: func(id string) error { return te.RestartSession(ctx, id, "") }, want: "restart"},
		{name: "remote management disabled", command: func(id string) error { return te.StopSession(ctx, id, "x") }, disabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := te.agentConfig(httpLocal("127.0.0.1:1"))
			cfg.DisableRemoteManagement = tt.disabled
			s, err := agent.Connect(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = tt.command(s.ID())
			if tt.disabled {
				if proto.CodeOf(err) != proto.CodeRemoteManagementDisabled {
					t.Fatalf("command = %v, want %s", err, proto.CodeRemoteManagementDisabled)
				}
			} else if err != nil {
				t.Fatalf("command = %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err = s.Wait(ctx)
			var rc *agent.RemoteCommand
			if tt.disabled {
				if err != nil {
					t.Fatalf("agent with remote management disabled ended: %v", err)
				}
				return
			}
			if !errors.As(err, &rc) || rc.Kind != tt.want {
				t.Fatalf("Wait = %v, want remote %s", err, tt.want)
			}
		})
	}
}

func TestCommandUnknownSession(t *testing.T) {
	te := startEdge(t)
	if err := te.StopSession(context.Background(), "ts_nope", ""); proto.CodeOf(err) != proto.CodeSessionNotFound {
		t.Fatalf("err = %v", err)
	}
}

func TestReconnectAfterEdgeRestart(t *testing.T) {
	checkNoLeaks(t)
	te := startEdge(t)
	agentAddr := te.AgentAddr().String()
	tun := httpLocal(echoServer(t))
	tun.Domain = "comeback"
	cfg := te.agentConfig(tun)
	connected := make(chan string, 4)
	cfg.OnEvent = func(e agent.Event) {
		if e.Type == agent.EventConnected {
			connected <- e.Session.ID()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	first := <-connected
	te.stop()
	te2 := startEdge(t, func(c *edgeConfig) { c.AgentAddr = agentAddr })
	select {
	case second := <-connected:
		if second == first {
			t.Fatal("same session id after reconnect")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not reconnect")
	}
	if h := te2.Health(); h.Sessions != 1 || h.Tunnels != 1 {
		t.Fatalf("restarted edge health %+v", h)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
}

func TestDrainTellsAgents(t *testing.T) {
	te := startEdge(t)
	s := te.connect(t, httpLocal("127.0.0.1:1"))
	go te.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx); !errors.Is(err, agent.ErrEdgeDraining) {
		t.Fatalf("Wait = %v, want ErrEdgeDraining", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 250; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition never became true")
}

func TestProbePicksLowestLatency(t *testing.T) {
	checkNoLeaks(t)
	slow := startEdge(t, func(c *edgeConfig) { c.AddedLatency = 60 * time.Millisecond })
	fast := startTLSEdge(t, func(c *edgeConfig) { c.Region = "eu" })
	// Probe over plain TCP for the slow edge and TLS for the fast one is
	// not possible with one TLS config, so probe each with its own.
	res := agent.Probe(context.Background(), map[region.Code]string{"us": slow.AgentAddr().String()}, nil, 0, nil)
	res = append(res, agent.Probe(context.Background(), map[region.Code]string{"eu": fast.AgentAddr().String()}, fast.agentConfig().TLS, 0, nil)...)
	res = append(res, agent.Probe(context.Background(), map[region.Code]string{"ap": closedAddr(t)}, nil, time.Second, nil)...)
	sort.Slice(res, func(i, j int) bool {
		if (res[i].Err == nil) != (res[j].Err == nil) {
			return res[i].Err == nil
		}
		return res[i].Latency < res[j].Latency
	})
	best, err := agent.Closest(res)
	if err != nil {
		t.Fatal(err)
	}
	if best.Region != "eu" {
		t.Fatalf("picked %s (%v); results %+v", best.Region, best.Latency, res)
	}
	if res[1].Region != "us" || res[1].Latency < 60*time.Millisecond {
		t.Fatalf("slow edge measured %v", res[1].Latency)
	}
	if res[2].Err == nil {
		t.Fatal("unreachable edge has no error")
	}
	// An edge answering for another region than expected is rejected.
	wrong := agent.Probe(context.Background(), map[region.Code]string{"jp": slow.AgentAddr().String()}, nil, 0, nil)
	if wrong[0].Err == nil || !strings.Contains(wrong[0].Err.Error(), `serves region "us"`) {
		t.Fatalf("wrong-region edge: %v", wrong[0].Err)
	}
	// Probing leaves no sessions or refusals behind.
	if h := slow.Health(); h.Sessions != 0 {
		t.Fatalf("probes left sessions: %+v", h)
	}
}
