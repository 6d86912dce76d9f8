package edge_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/edgeway/edgeway/internal/proto"
)

// rawAgent opens a plain yamux session to the edge without the agent
// library, to misbehave.
func rawAgent(t *testing.T, te *testEdge) (*yamux.Session, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", te.AgentAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	mux, err := proto.Client(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mux.Close() })
	return mux, c
}

func TestHandshakeRefusals(t *testing.T) {
	checkNoLeaks(t)
	te := startEdge(t)
	tests := []struct {
		name  string
		frame []byte
		code  string
	}{
		{"bind before auth", proto.AppendFrame(nil, proto.TypeBind, []byte(`{"proto":"http"}`)), proto.CodeNotAuthenticated},
		{"oversized auth frame", proto.AppendFrame(nil, proto.TypeAuth, make([]byte, proto.MaxBodySize+1)), proto.CodeFrameTooLarge},
		{"auth body not json", proto.AppendFrame(nil, proto.TypeAuth, []byte("{")), proto.CodeBadFrame},
		{"old version", proto.AppendFrame(nil, proto.TypeAuth, []byte(`{"version":0,"authtoken":"`+testToken+`"}`)), proto.CodeVersionUnsupported},
		{"bad token", proto.AppendFrame(nil, proto.TypeAuth, []byte(`{"version":1,"authtoken":"nope"}`)), proto.CodeAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux, _ := rawAgent(t, te)
			s, err := mux.Open()
			if err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = s.Write(tt.frame) }()
			_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
			f, err := proto.ReadFrame(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Decode(nil); proto.CodeOf(err) != tt.code {
				t.Fatalf("answer %v, want %s", err, tt.code)
			}
			// The edge hangs up on a refused agent.
			select {
			case <-mux.CloseChan():
			case <-time.After(5 * time.Second):
				t.Fatal("edge kept a refused session open")
			}
		})
	}
	if h := te.Health(); h.Sessions != 0 {
		t.Fatalf("refused agents left sessions: %+v", h)
	}
}

func TestGarbageAndStalledPeersAreDropped(t *testing.T) {
	checkNoLeaks(t)
	te := startEdge(t, func(c *edgeConfig) { c.HandshakeTimeout = 300 * time.Millisecond })
	tests := []struct {
		name string
		send []byte
	}{
		{"garbage instead of yamux", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"silent peer", nil},
		{"half a yamux header", []byte{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", te.AgentAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.send != nil {
				_, _ = c.Write(tt.send)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			_, err = io.ReadAll(c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("edge did not drop the peer")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("dropping took %v", d)
			}
		})
	}
	t.Run("stalls after opening a stream", func(t *testing.T) {
		mux, _ := rawAgent(t, te)
		s, err := mux.Open()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write([]byte{0, 2}) // half a frame header, then nothing
		select {
		case <-mux.CloseChan():
		case <-time.After(5 * time.Second):
			t.Fatal("edge kept a stalled handshake open")
		}
	})
}
