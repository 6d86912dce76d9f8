package edge

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestConnPoolSweepsIdle: idle proxy streams older than proxyIdleTimeout
// are closed by the pool's sweep even when no request comes to take them,
// and younger ones stay.
func TestConnPoolSweepsIdle(t *testing.T) {
	var p connPool
	old, oldPeer := net.Pipe()
	fresh, freshPeer := net.Pipe()
	defer oldPeer.Close()
	defer freshPeer.Close()
	p.put(&proxyConn{conn: old})
	p.put(&proxyConn{conn: fresh})
	if !p.armed {
		t.Fatal("a pool holding idle streams has no sweep armed")
	}
	p.mu.Lock()
	p.idle[0].idleAt = time.Now().Add(-proxyIdleTimeout - time.Second)
	p.mu.Unlock()
	p.sweepIdle()
	if !peerSeesClose(oldPeer) {
		t.Fatal("the stream idle past proxyIdleTimeout is still open")
	}
	p.mu.Lock()
	n, armed := len(p.idle), p.armed
	p.mu.Unlock()
	if n != 1 || !armed {
		t.Fatalf("after the sweep: %d idle (want 1, the fresh one), sweep armed %v (want true)", n, armed)
	}
	p.close()
	if !peerSeesClose(freshPeer) {
		t.Fatal("closing the pool left an idle stream open")
	}
}

// peerSeesClose reports whether the far end of a pipe ends (within 2 s).
func peerSeesClose(peer net.Conn) bool {
	_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := peer.Read(make([]byte, 1))
	return err == io.EOF
}
