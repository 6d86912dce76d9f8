package yamux

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TestSpliceSocketToSocket: TCP source -> ReadFrom -> yamux over TCP ->
// WriteTo -> TCP destination, the path of a TCP tunnel through an edge and
// an agent, with both ends spliced on Linux. Four streams carry 8 MiB each
// in random pieces while the destinations read slowly at first (the
// receive pipe fills and the rest goes through chunks), and every byte
// arrives in order.
func TestSpliceSocketToSocket(t *testing.T) {
	clientConn, serverConn := testConnTCP(t)
	client, server := testClientServerConfig(t, clientConn, serverConn, bulkConf(), bulkConf())
	const streams, size = 4, 8 << 20
	out0, in0, full0, to0 := spliceCounts.out.Load(), spliceCounts.in.Load(), spliceCounts.inFull.Load(), spliceCounts.to.Load()
	pipes0 := spliceCounts.pipes.Load()
	errs := make(chan error, 8*streams)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		srcIn, srcOut := tcpPair(t) // the visitor writes srcIn; the edge reads srcOut
		s, err := client.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		seed := int64(s.StreamID() / 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := writeInPieces(srcIn, pattern(seed, size), seed)
			_ = srcIn.CloseWrite()
			errs <- err
		}()
		go func() {
			defer wg.Done()
			n, err := s.ReadFrom(srcOut)
			if err == nil && n != size {
				err = fmt.Errorf("ReadFrom moved %d bytes, want %d", n, size)
			}
			errs <- err
			errs <- s.Close()
		}()
	}
	for i := 0; i < streams; i++ {
		rs, err := server.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		dstIn, dstOut := tcpPair(t) // the agent writes dstIn; the local service reads dstOut
		wg.Add(2)
		go func() {
			defer wg.Done()
			n, err := rs.WriteTo(dstIn)
			if err == nil && n != size {
				err = fmt.Errorf("WriteTo moved %d bytes, want %d", n, size)
			}
			_ = dstIn.CloseWrite()
			errs <- err
		}()
		go func(id uint32) {
			defer wg.Done()
			h := sha256.New()
			slow := make([]byte, 4<<10)
			for j := 0; j < 64; j++ { // a slow reader first: 64 reads of 4 KiB
				n, err := dstOut.Read(slow)
				h.Write(slow[:n])
				if err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
			if _, err := io.Copy(h, dstOut); err != nil {
				errs <- err
				return
			}
			want := sha256.Sum256(pattern(int64(id/2), size))
			if !bytes.Equal(h.Sum(nil), want[:]) {
				errs <- fmt.Errorf("stream %d: data differs from what was sent", id)
				return
			}
			errs <- nil
		}(rs.StreamID())
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	out, in, full, to := spliceCounts.out.Load()-out0, spliceCounts.in.Load()-in0, spliceCounts.inFull.Load()-full0, spliceCounts.to.Load()-to0
	t.Logf("spliced: sent %d, received %d (+%d through chunks, the pipe full), written out %d", out, in, full, to)
	if p := spliceCounts.pipes.Load() - pipes0; p != 2*streams {
		t.Errorf("%d pipes made, want %d (one per stream and side)", p, 2*streams)
	}
	if out != streams*size {
		t.Errorf("%d bytes were sent from pipes, want all %d", out, streams*size)
	}
	if in == 0 || to != in {
		t.Errorf("received into pipes %d, written out of them %d: want the same, > 0", in, to)
	}
}

// TestNoPipeForSmallStreams: a stream that carries less than spliceAfter
// into a TCP connection never gets a pipe (two descriptors per
// connection would be wasted on requests and interactive sessions).
func TestNoPipeForSmallStreams(t *testing.T) {
	clientConn, serverConn := testConnTCP(t)
	client, server := testClientServerConfig(t, clientConn, serverConn, bulkConf(), bulkConf())
	s, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	msg := pattern(7, 100<<10)
	go func() {
		_, _ = s.Write(msg)
		_ = s.Close()
	}()
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	dstIn, dstOut := tcpPair(t)
	pipes0 := spliceCounts.pipes.Load()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(dstOut)
		got <- b
	}()
	n, err := rs.WriteTo(dstIn)
	_ = dstIn.CloseWrite()
	if err != nil || n != int64(len(msg)) {
		t.Fatalf("WriteTo = %d, %v; want %d", n, err, len(msg))
	}
	if b := <-got; !bytes.Equal(b, msg) {
		t.Fatalf("destination got %d bytes, not what was sent", len(b))
	}
	if n := spliceCounts.pipes.Load() - pipes0; n != 0 {
		t.Fatalf("a 100 KiB stream made %d pipes, want none", n)
	}
}
