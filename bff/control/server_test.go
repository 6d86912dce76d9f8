package control

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/bff/credentials"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/hashicorp/yamux"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type recorder struct {
	mu       sync.Mutex
	accounts []string
}

func (r *recorder) SessionsChanged(accountID string, _ ...string) {
	r.mu.Lock()
	r.accounts = append(r.accounts, accountID)
	r.mu.Unlock()
}

// fakeEdge is the edge's side of the channel, driven by the test.
type fakeEdge struct {
	t        *testing.T
	mux      *yamux.Session
	ctl      *proto.Control
	commands chan proto.SessionCommand

	mu     sync.Mutex // guards answer: the edge's handler reads it, the test swaps it
	answer func(proto.SessionCommand) (*proto.CommandResult, error)
}

// setAnswer changes how the fake edge answers the next commands.
func (fe *fakeEdge) setAnswer(f func(proto.SessionCommand) (*proto.CommandResult, error)) {
	fe.mu.Lock()
	fe.answer = f
	fe.mu.Unlock()
}

func dialEdge(t *testing.T, addr, token, edgeID string) (*fakeEdge, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux, err := proto.Client(conn, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var w proto.EdgeWelcome
	if err := proto.Call(ctx, mux, proto.TypeEdgeHello, proto.EdgeHello{Version: proto.Version, Token: token, EdgeID: edgeID, Region: "eu"}, &w); err != nil {
		mux.Close()
		return nil, err
	}
	fe := &fakeEdge{t: t, mux: mux, commands: make(chan proto.SessionCommand, 4),
		answer: func(proto.SessionCommand) (*proto.CommandResult, error) { return &proto.CommandResult{}, nil }}
	r := &proto.Router{}
	proto.On(r, proto.TypeSessionCommand, func(ctx context.Context, c *proto.SessionCommand) (*proto.CommandResult, error) {
		fe.mu.Lock()
		answer := fe.answer
		fe.mu.Unlock()
		fe.commands <- *c
		return answer(*c)
	})
	go r.Serve(context.Background(), mux)
	t.Cleanup(func() { mux.Close() })
	return fe, nil
}

func (fe *fakeEdge) open(snap proto.EdgeSnapshot) {
	stream, err := fe.mux.Open()
	if err != nil {
		fe.t.Fatal(err)
	}
	if err := proto.WriteFrame(stream, proto.TypeEdgeControl, snap); err != nil {
		fe.t.Fatal(err)
	}
	fe.ctl = proto.NewControl(stream, quiet)
	go fe.ctl.Run(context.Background())
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestControlChannel(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct := newAccount(t, db)
	var user string
	if err := db.QueryRow(ctx, `insert into users (id, email, name, password_hash) values ($1, 'ada@example.com', 'Ada', 'x') returning id`, ids.New(ids.User)).Scan(&user); err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewService(quiet, credentials.NewStore(db), nil)
	cred, err := creds.Create(ctx, web.Principal{AccountID: acct, UserID: user}, credentials.Input{})
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(db)
	obs := &recorder{}
	srv := NewServer(quiet, Config{Token: "edge-secret", StaleGrace: time.Hour}, store, creds, nil, nil, obs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)

	t.Run("wrong edge token is refused", func(t *testing.T) {
		_, err := dialEdge(t, ln.Addr().String(), "guess", "edge_eu_x")
		if proto.CodeOf(err) != proto.CodeAuthFailed {
			t.Fatalf("err = %v, want %s", err, proto.CodeAuthFailed)
		}
	})

	fe, err := dialEdge(t, ln.Addr().String(), "edge-secret", "edge_eu_1")
	if err != nil {
		t.Fatal(err)
	}
	var grant proto.AgentAuthResponse
	t.Run("agent auth", func(t *testing.T) {
		err := proto.Call(ctx, fe.mux, proto.TypeAgentAuth, proto.AgentAuthRequest{Auth: proto.AuthRequest{Authtoken: "ewt_wrong"}}, &grant)
		if proto.CodeOf(err) != proto.CodeAuthFailed {
			t.Fatalf("bad token: %v", err)
		}
		if err := proto.Call(ctx, fe.mux, proto.TypeAgentAuth, proto.AgentAuthRequest{Auth: proto.AuthRequest{Authtoken: cred.Token}, RemoteAddr: "203.0.113.5:4000"}, &grant); err != nil {
			t.Fatal(err)
		}
		if grant.AccountID != acct || grant.CredentialID != cred.ID {
			t.Fatalf("grant %+v", grant)
		}
		if _, err := ids.Parse(ids.TunnelSession, grant.SessionID); err != nil {
			t.Fatalf("session id: %v", err)
		}
	})

	fe.open(proto.EdgeSnapshot{})
	now := time.Now().UnixMilli()
	if err := fe.ctl.Send(proto.TypeSessionStarted, proto.SessionInfo{ID: grant.SessionID, AccountID: acct, CredentialID: cred.ID,
		RemoteAddr: "203.0.113.5:4000", AgentVersion: "1.2.3", RemoteManagement: true, StartedUnixMilli: now}); err != nil {
		t.Fatal(err)
	}
	if err := fe.ctl.Send(proto.TypeTunnelStarted, proto.TunnelInfo{ID: ids.New(ids.Tunnel), SessionID: grant.SessionID, Proto: "http",
		PublicURL: "http://abc.eu.localhost", StartedUnixMilli: now}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the tunnel recorded", func() bool {
		ts, _ := store.Tunnels(ctx, acct, "", 10)
		return len(ts) == 1
	})
	s, err := store.Session(ctx, acct, grant.SessionID)
	if err != nil || s.IP != "203.0.113.5" || s.Region != "eu" || s.EdgeID != "edge_eu_1" {
		t.Fatalf("recorded session %+v %v", s, err)
	}

	t.Run("stop reaches the edge", func(t *testing.T) {
		if err := srv.Command(ctx, acct, grant.SessionID, ActionStop, "because"); err != nil {
			t.Fatal(err)
		}
		c := <-fe.commands
		if c.SessionID != grant.SessionID || c.Action != ActionStop || c.Reason != "because" {
			t.Fatalf("edge got %+v", c)
		}
	})
	t.Run("agent refusal comes back with its code", func(t *testing.T) {
		fe.setAnswer(func(proto.SessionCommand) (*proto.CommandResult, error) {
			return &proto.CommandResult{Error: proto.Errorf(proto.CodeRemoteManagementDisabled, "remote management is disabled")}, nil
		})
		err := srv.Command(ctx, acct, grant.SessionID, ActionRestart, "")
		<-fe.commands
		if e, ok := httperr.As(err); !ok || e.Code != CodeRemoteManagementDisabled {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("another account cannot command the session", func(t *testing.T) {
		err := srv.Command(ctx, newAccount(t, db), grant.SessionID, ActionStop, "")
		if e, ok := httperr.As(err); !ok || e.Code != httperr.CodeNotFound {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("revoking the credential disconnects its sessions", func(t *testing.T) {
		srv.CredentialRevoked(ctx, acct, cred.ID)
		select {
		case c := <-fe.commands:
			if c.Action != proto.ActionRevoke || c.SessionID != grant.SessionID {
				t.Fatalf("edge got %+v", c)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no revoke command reached the edge")
		}
	})
	t.Run("session end removes the row", func(t *testing.T) {
		if err := fe.ctl.Send(proto.TypeSessionEnded, proto.SessionEnded{ID: grant.SessionID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the session removed", func() bool {
			_, err := store.Session(ctx, acct, grant.SessionID)
			return err != nil
		})
	})
	t.Run("edge loss marks sessions stale; reconnect reconciles", func(t *testing.T) {
		other := ids.New(ids.TunnelSession)
		if err := fe.ctl.Send(proto.TypeSessionStarted, proto.SessionInfo{ID: other, AccountID: acct, CredentialID: cred.ID, RemoteManagement: true, StartedUnixMilli: now}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "second session", func() bool { _, err := store.Session(ctx, acct, other); return err == nil })
		fe.mux.Close()
		eventually(t, "stale mark", func() bool { s, err := store.Session(ctx, acct, other); return err == nil && s.StaleSince != nil })
		if err := srv.Command(ctx, acct, other, ActionStop, ""); err == nil {
			t.Fatal("command to a disconnected edge should fail")
		} else if e, _ := httperr.As(err); e.Code != CodeEdgeUnavailable {
			t.Fatalf("err = %v, want %s", err, CodeEdgeUnavailable)
		}
		back, err := dialEdge(t, ln.Addr().String(), "edge-secret", "edge_eu_1")
		if err != nil {
			t.Fatal(err)
		}
		back.open(proto.EdgeSnapshot{}) // the session ended while the bff was away
		eventually(t, "reconcile", func() bool { _, err := store.Session(ctx, acct, other); return err != nil })
	})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.accounts) == 0 || obs.accounts[0] != acct {
		t.Fatalf("observer heard %v", obs.accounts)
	}
}

// TestCommandCrossesReplicas: a stop sent to a replica that does not hold the edge reaches the
// edge through the replica that does (PostgreSQL NOTIFY), and the agent's answer comes back.
func TestCommandCrossesReplicas(t *testing.T) {
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	acct := newAccount(t, db)
	store := NewStore(db)
	creds := credentials.NewService(quiet, credentials.NewStore(db), nil)
	replicas := make([]*Server, 2)
	addrs := make([]string, 2)
	for i := range replicas {
		replicas[i] = NewServer(quiet, Config{Token: "edge-secret", StaleGrace: time.Hour}, store, creds, nil, nil, nil)
		replicas[i].EnableRelay(db)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		go replicas[i].Serve(ctx, ln)
	}
	fe, err := dialEdge(t, addrs[0], "edge-secret", "edge_eu_a")
	if err != nil {
		t.Fatal(err)
	}
	id := ids.New(ids.TunnelSession)
	fe.open(proto.EdgeSnapshot{Sessions: []proto.SessionInfo{{ID: id, AccountID: acct, CredentialID: "cr_x", RemoteManagement: true, StartedUnixMilli: time.Now().UnixMilli()}}})
	eventually(t, "snapshot recorded", func() bool { _, err := store.Session(ctx, acct, id); return err == nil })
	for _, r := range replicas {
		<-r.RelayReady()
	}
	if err := replicas[1].Command(ctx, acct, id, ActionStop, "from replica b"); err != nil {
		t.Fatalf("relayed stop: %v", err)
	}
	if c := <-fe.commands; c.SessionID != id || c.Reason != "from replica b" {
		t.Fatalf("edge got %+v", c)
	}
	fe.setAnswer(func(proto.SessionCommand) (*proto.CommandResult, error) {
		return &proto.CommandResult{Error: proto.Errorf(proto.CodeRemoteManagementDisabled, "disabled")}, nil
	})
	err = replicas[1].Command(ctx, acct, id, ActionRestart, "")
	<-fe.commands
	if e, ok := httperr.As(err); !ok || e.Code != CodeRemoteManagementDisabled {
		t.Fatalf("relayed refusal = %v", err)
	}
}
