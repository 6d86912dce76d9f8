package proto

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// tcpSessions returns a yamux client and server over a loopback TCP
// connection (the patched yamux's vectored and splice paths need one).
func tcpSessions(t *testing.T) (*yamux.Session, *yamux.Session) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-acc
	client, err := Client(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := Server(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestJoinCarriesBulkBothWays: visitor socket -> Join on the edge side ->
// yamux over TCP -> Join on the agent side -> local socket, the path of a
// TCP tunnel. 6 MiB go each way at once (the first 128 KiB through a
// buffer, the rest spliced once the copy sees bulk data) and a 5-byte
// exchange on a second connection; every byte arrives in order.
func TestJoinCarriesBulkBothWays(t *testing.T) {
	client, server := tcpSessions(t)
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	public, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer public.Close()

	// The agent: each stream joined with a connection to the local service.
	go func() {
		for {
			s, err := server.Accept()
			if err != nil {
				return
			}
			go func() {
				c, err := net.Dial("tcp", local.Addr().String())
				if err != nil {
					s.Close()
					return
				}
				Join(s, c)
			}()
		}
	}()
	// The edge: each visitor joined with a new stream.
	go func() {
		for {
			v, err := public.Accept()
			if err != nil {
				return
			}
			go func() {
				s, err := client.OpenStream()
				if err != nil {
					v.Close()
					return
				}
				Join(v, s)
			}()
		}
	}()

	const size = 6 << 20
	up, down := make([]byte, size), make([]byte, size)
	rand.New(rand.NewSource(1)).Read(up)
	rand.New(rand.NewSource(2)).Read(down)

	// The local service: reads everything, answers with down meanwhile.
	gotUp := make(chan [32]byte, 2)
	go func() {
		for {
			c, err := local.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				first := make([]byte, 5)
				if _, err := io.ReadFull(c, first); err != nil {
					return
				}
				if string(first) == "ping!" { // the small exchange
					_, _ = c.Write([]byte("pong!"))
					return
				}
				go func() {
					_, _ = c.Write(down)
					_ = c.(*net.TCPConn).CloseWrite()
				}()
				h := sha256.New()
				h.Write(first)
				_, _ = io.Copy(h, c)
				var sum [32]byte
				copy(sum[:], h.Sum(nil))
				gotUp <- sum
			}()
		}
	}()

	v, err := net.Dial("tcp", public.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_ = v.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		_, _ = v.Write(up)
		_ = v.(*net.TCPConn).CloseWrite()
	}()

	small, err := net.Dial("tcp", public.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	_ = small.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := small.Write([]byte("ping!")); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 5)
	if _, err := io.ReadFull(small, reply); err != nil || string(reply) != "pong!" {
		t.Fatalf("small exchange: %q, %v", reply, err)
	}

	back, err := io.ReadAll(v)
	if err != nil {
		t.Fatalf("reading the download: %v", err)
	}
	if !bytes.Equal(back, down) {
		t.Fatalf("download: %d bytes, differs from the %d sent", len(back), len(down))
	}
	select {
	case sum := <-gotUp:
		if sum != sha256.Sum256(up) {
			t.Fatal("upload: the local service got different bytes")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload never completed")
	}
}
