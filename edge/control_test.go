package edge_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/proto"
)

// fakeBFF is the bff's side of the control channel, just enough to test
// the edge's side.
type fakeBFF struct {
	ln     net.Listener
	events chan string // "hello", "snapshot N", "session_started ID", ...

	mu  sync.Mutex
	mux *yamux.Session
	ctl *proto.Control // the edge's open control stream
}

// pushIPPolicies sends endpoint IP restrictions down the edge's control stream.
func (b *fakeBFF) pushIPPolicies(t *testing.T, p proto.IPPolicies) {
	t.Helper()
	b.mu.Lock()
	ctl := b.ctl
	b.mu.Unlock()
	if ctl == nil {
		t.Fatal("no control stream")
	}
	if err := ctl.Send(proto.TypeIPPolicies, p); err != nil {
		t.Fatal(err)
	}
}

func startFakeBFF(t *testing.T) *fakeBFF {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBFF{ln: ln, events: make(chan string, 100)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.drop()
		wg.Wait()
	})
	return b
}

func (b *fakeBFF) serve(c net.Conn) {
	mux, err := proto.Server(c, nil)
	if err != nil {
		return
	}
	b.mu.Lock()
	b.mux = mux
	b.mu.Unlock()
	var r proto.Router
	proto.On(&r, proto.TypeEdgeHello, func(_ context.Context, h *proto.EdgeHello) (*proto.EdgeWelcome, error) {
		if h.Token != "edge-secret" {
			return nil, proto.Errorf(proto.CodeAuthFailed, "bad edge token")
		}
		b.events <- "hello " + h.Region
		return &proto.EdgeWelcome{Version: proto.Version, BffID: "bff_1", HeartbeatMillis: 100}, nil
	})
	proto.On(&r, proto.TypeAgentAuth, func(_ context.Context, req *proto.AgentAuthRequest) (*proto.AgentAuthResponse, error) {
		if req.Auth.Authtoken != "good" {
			return nil, proto.Errorf(proto.CodeAuthFailed, "the authtoken is not valid: it may have been revoked")
		}
		return &proto.AgentAuthResponse{SessionID: edge.NewID("ts_"), AccountID: "ac_1", CredentialID: "cr_1"}, nil
	})
	proto.On(&r, proto.TypeBindCheck, func(_ context.Context, req *proto.BindCheckRequest) (*proto.BindCheckResponse, error) {
		if req.Name == "frankfurt.us.localhost" {
			e := proto.Errorf(proto.CodeDomainOtherRegion, "frankfurt.us.localhost cannot be used in region us: it is reserved in region eu")
			e.Details = map[string]string{"region": "eu"}
			return nil, e
		}
		return &proto.BindCheckResponse{Reserved: req.Name == "app.example.com"}, nil
	})
	r.HandleStream(proto.TypeEdgeControl, func(ctx context.Context, f proto.Frame, stream net.Conn) {
		defer stream.Close()
		var snap proto.EdgeSnapshot
		if err := f.Decode(&snap); err != nil {
			return
		}
		ctl := proto.NewControl(stream, nil)
		b.mu.Lock()
		b.ctl = ctl
		b.mu.Unlock()
		// Announce the snapshot only once pushes go to this stream: a test that waits for it may
		// push at once (otherwise the push could hit the previous connection's closed stream).
		b.events <- "snapshot " + strconv.Itoa(len(snap.Sessions)) + " " + strconv.Itoa(len(snap.Tunnels))
		ctl.Handle(proto.TypeSessionStarted, func(_ context.Context, f proto.Frame) error {
			var si proto.SessionInfo
			_ = f.Decode(&si)
			b.events <- "session_started " + si.AccountID
			return nil
		})
		ctl.Handle(proto.TypeSessionEnded, func(_ context.Context, f proto.Frame) error {
			var se proto.SessionEnded
			_ = f.Decode(&se)
			b.events <- "session_ended " + se.Error
			return nil
		})
		ctl.Handle(proto.TypeTunnelStarted, func(_ context.Context, f proto.Frame) error {
			var ti proto.TunnelInfo
			_ = f.Decode(&ti)
			b.events <- "tunnel_started " + ti.Proto
			return nil
		})
		ctl.Handle(proto.TypeEdgeHeartbeat, func(context.Context, proto.Frame) error {
			return ctl.Send(proto.TypeEdgeHeartbeat, proto.Heartbeat{SentUnixNano: time.Now().UnixNano()})
		})
		_ = ctl.Run(ctx)
	})
	_ = r.Serve(context.Background(), mux)
}

// drop cuts the current edge connection (a bff restart).
func (b *fakeBFF) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mux != nil {
		b.mux.Close()
	}
}

func (b *fakeBFF) command(ctx context.Context, cmd proto.SessionCommand) (proto.CommandResult, error) {
	b.mu.Lock()
	mux := b.mux
	b.mu.Unlock()
	var res proto.CommandResult
	err := proto.Call(ctx, mux, proto.TypeSessionCommand, cmd, &res)
	return res, err
}

func (b *fakeBFF) expect(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-b.events:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("bff never saw %q", want)
		}
	}
}

func TestControlChannel(t *testing.T) {
	checkNoLeaks(t)
	bff := startFakeBFF(t)
	srv, err := edge.New(edge.Config{Region: "us", HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0",
		DrainTimeout: time.Second}, testLog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := edge.NewControl(edge.ControlConfig{Addr: bff.ln.Addr().String(), Token: "edge-secret", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, srv, testLog(t))
	srv.UseControl(ctl)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ctx) }()
	go func() { defer wg.Done(); ctl.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	bff.expect(t, "hello us")
	bff.expect(t, "snapshot 0 0")
	waitFor(t, func() bool { return srv.Health().BFF == "up" })
	agentCfg := func(token string, tunnels ...agent.Tunnel) agent.Config {
		return agent.Config{ServerAddr: srv.AgentAddr().String(), Authtoken: token, Tunnels: tunnels}
	}

	// The bff decides on authtokens.
	_, err = agent.Connect(ctx, agentCfg("bad", httpLocal("127.0.0.1:1")))
	if proto.CodeOf(err) != proto.CodeAuthFailed {
		t.Fatalf("bad token: %v", err)
	}
	// ... and on reserved names, naming both regions.
	tun := httpLocal("127.0.0.1:1")
	tun.Domain = "frankfurt"
	_, err = agent.Connect(ctx, agentCfg("good", tun))
	if proto.CodeOf(err) != proto.CodeDomainOtherRegion {
		t.Fatalf("reserved elsewhere: %v", err)
	}
	// A custom domain must be reserved by the account.
	tun.Domain = "other.example.com"
	if _, err = agent.Connect(ctx, agentCfg("good", tun)); proto.CodeOf(err) != proto.CodeDomainInvalid {
		t.Fatalf("unreserved custom domain: %v", err)
	}
	tun.Domain = "app.example.com"
	custom, err := agent.Connect(ctx, agentCfg("good", tun))
	if err != nil {
		t.Fatalf("reserved custom domain: %v", err)
	}
	if got := custom.Tunnels()[0].PublicURL; !strings.HasPrefix(got, "http://app.example.com:") {
		t.Fatalf("custom domain URL %s", got)
	}
	custom.Close()
	bff.expect(t, "session_ended ")

	sess, err := agent.Connect(ctx, agentCfg("good", httpLocal(echoServer(t))))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	bff.expect(t, "session_started ac_1")
	bff.expect(t, "tunnel_started http")

	// The bff goes away: the edge keeps its agents and refuses new ones
	// with a code agents retry; when the bff is back, the snapshot
	// reconciles.
	bff.drop()
	waitFor(t, func() bool { return srv.Health().BFF == "down" || len(bff.events) > 0 })
	if s, err := agent.Connect(ctx, agentCfg("good", httpLocal("127.0.0.1:1"))); err == nil {
		s.Close() // the edge was already back
	} else if proto.CodeOf(err) != proto.CodeUnavailable || agent.Permanent(err) {
		t.Fatalf("while the bff is away: %v, want retryable %s", err, proto.CodeUnavailable)
	}
	bff.expect(t, "snapshot 1 1")
	if len(srv.Sessions()) < 1 {
		t.Fatal("the edge dropped its agent when the bff went away")
	}

	// Commands from the bff reach the agent.
	res, err := bff.command(ctx, proto.SessionCommand{SessionID: sess.ID(), Action: proto.ActionStop, Reason: "from the dashboard"})
	if err != nil || res.Error != nil {
		t.Fatalf("stop command: %v %v", err, res.Error)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	var rc *agent.RemoteCommand
	if err := sess.Wait(wctx); !errors.As(err, &rc) || rc.Reason != "from the dashboard" {
		t.Fatalf("agent after stop: %v", err)
	}
	bff.expect(t, "session_ended ")
	if _, err := bff.command(ctx, proto.SessionCommand{SessionID: "ts_gone", Action: proto.ActionStop}); proto.CodeOf(err) != proto.CodeSessionNotFound {
		t.Fatalf("unknown session: %v", err)
	}

	// Revoke ends a session even when the agent refuses remote management.
	cfg := agentCfg("good", httpLocal("127.0.0.1:1"))
	cfg.DisableRemoteManagement = true
	s2, err := agent.Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	res, err = bff.command(ctx, proto.SessionCommand{SessionID: s2.ID(), Action: proto.ActionStop})
	if err != nil || res.Error == nil || res.Error.Code != proto.CodeRemoteManagementDisabled {
		t.Fatalf("stop with remote management disabled: %v %+v", err, res)
	}
	if _, err := bff.command(ctx, proto.SessionCommand{SessionID: s2.ID(), Action: proto.ActionRevoke, Reason: "authtoken revoked"}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Wait(wctx); err == nil {
		t.Fatal("revoked session still running")
	}
	bff.expect(t, "session_ended revoked: authtoken revoked")
}
