package proto

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// pipeSessions returns a yamux client and server over net.Pipe, or over
// loopback TCP when loopback is true.
func pipeSessions(t *testing.T, loopback bool) (client, server *yamux.Session) {
	t.Helper()
	var a, b net.Conn
	if loopback {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		a, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b = <-accepted
	} else {
		a, b = net.Pipe()
	}
	client, err := Client(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err = Server(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func TestCallAndRouter(t *testing.T) {
	for _, loopback := range []bool{false, true} {
		name := "pipe"
		if loopback {
			name = "loopback"
		}
		t.Run(name, func(t *testing.T) {
			client, server := pipeSessions(t, loopback)
			var r Router
			On(&r, TypeBind, func(_ context.Context, req *BindRequest) (*BindResponse, error) {
				if req.Domain == "taken" {
					return nil, Errorf(CodeEndpointOnline, "taken is online")
				}
				if req.Domain == "boom" {
					return nil, errors.New("database exploded")
				}
				return &BindResponse{TunnelID: "tn_1", Proto: req.Proto, PublicURL: "http://" + req.Domain + ".us.localhost"}, nil
			})
			served := make(chan error, 1)
			go func() { served <- r.Serve(context.Background(), server) }()

			ctx := context.Background()
			var resp BindResponse
			if err := Call(ctx, client, TypeBind, BindRequest{Proto: ProtoHTTP, Domain: "app"}, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.PublicURL != "http://app.us.localhost" {
				t.Fatalf("resp %+v", resp)
			}
			err := Call(ctx, client, TypeBind, BindRequest{Domain: "taken"}, &resp)
			if CodeOf(err) != CodeEndpointOnline {
				t.Fatalf("err = %v", err)
			}
			err = Call(ctx, client, TypeBind, BindRequest{Domain: "boom"}, &resp)
			if CodeOf(err) != CodeInternal || strings.Contains(err.Error(), "exploded") {
				t.Fatalf("internal error leaked or lost: %v", err)
			}
			err = Call(ctx, client, TypeUnbind, UnbindRequest{}, &UnbindResponse{})
			if CodeOf(err) != CodeUnknownType {
				t.Fatalf("unknown type err = %v", err)
			}
			// Concurrent calls each get their own stream.
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var resp BindResponse
					if err := Call(ctx, client, TypeBind, BindRequest{Domain: "c"}, &resp); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			client.Close()
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after the session closed")
			}
		})
	}
}

func TestCallHonoursContext(t *testing.T) {
	client, server := pipeSessions(t, false)
	var r Router
	release := make(chan struct{})
	r.HandleCall(TypeBind, func(context.Context, Frame) (any, error) {
		<-release
		return &BindResponse{}, nil
	})
	go func() { _ = r.Serve(context.Background(), server) }()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Call(ctx, client, TypeBind, BindRequest{}, &BindResponse{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestRouterRejectsMalformedStreams(t *testing.T) {
	client, server := pipeSessions(t, false)
	r := Router{HeaderTimeout: 100 * time.Millisecond}
	On(&r, TypeBind, func(context.Context, *BindRequest) (*BindResponse, error) { return &BindResponse{}, nil })
	go func() { _ = r.Serve(context.Background(), server) }()

	tests := []struct {
		name string
		send []byte
		code string
	}{
		{"oversized frame", rawFrame(TypeBind, MaxBodySize+1, ""), CodeFrameTooLarge},
		{"bad json", rawFrame(TypeBind, 5, "{nope"), CodeBadFrame},
		{"type zero", rawFrame(0, 0, ""), CodeBadFrame},
		{"stalled header", []byte{0, 3}, CodeBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := client.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
			f, err := ReadFrame(s, 0)
			if tt.name == "stalled header" {
				// A stream that stalls mid-header is closed once the header
				// timeout passes, without an answer.
				if err == nil {
					t.Fatalf("got frame %v from a stalled stream", f.Type)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Decode(nil); CodeOf(got) != tt.code {
				t.Fatalf("answer %v, want %s", got, tt.code)
			}
		})
	}
}

func TestControlDispatch(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewControl(a, nil), NewControl(b, nil)
	got := make(chan Heartbeat, 1)
	cb.Handle(TypeHeartbeat, func(_ context.Context, f Frame) error {
		var hb Heartbeat
		if err := f.Decode(&hb); err != nil {
			return err
		}
		got <- hb
		return nil
	})
	stop := errors.New("stop requested")
	cb.Handle(TypeStop, func(context.Context, Frame) error { return stop })
	done := make(chan error, 1)
	go func() { done <- cb.Run(context.Background()) }()

	// Unknown types are skipped, so newer peers can push new messages.
	if err := ca.Send(Type(500), map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Send(TypeHeartbeat, Heartbeat{SentUnixNano: 42}); err != nil {
		t.Fatal(err)
	}
	if hb := <-got; hb.SentUnixNano != 42 {
		t.Fatalf("heartbeat %+v", hb)
	}
	if err := ca.Send(TypeStop, Command{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, stop) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	ca.Close()
	cb.Close()
}

func TestControlRunEndsWithContext(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := NewControl(b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run ignored its context")
	}
}

func TestJoinHalfClose(t *testing.T) {
	client, server := pipeSessions(t, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Server side: a stream joined with a TCP connection to an echo service.
	go func() {
		c, _ := ln.Accept()
		buf := make([]byte, 1024)
		var all []byte
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				break
			}
		}
		_, _ = c.Write([]byte(strings.ToUpper(string(all))))
		c.Close()
	}()
	go func() {
		s, err := server.Accept()
		if err != nil {
			return
		}
		local, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		Join(s, local)
	}()
	s, err := client.Open()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Write([]byte("hello"))
	_ = s.Close() // half close: the reply must still arrive
	buf := make([]byte, 16)
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := s.Read(buf)
	if string(buf[:n]) != "HELLO" {
		t.Fatalf("got %q", buf[:n])
	}
}
