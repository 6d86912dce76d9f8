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
// in random pieces while the destinations read slowly at first, and every
// byte arrives in order. With yamux's default window (256 KiB, less than a
// pipe) one receive pipe per stream does; with Edgeway's 8 MiB window a
// full receive pipe is followed by more (up to the window), so no byte
// falls back to chunks once a stream splices.
func TestSpliceSocketToSocket(t *testing.T) {
	t.Run("default window", func(t *testing.T) { spliceSocketToSocket(t, 256<<10) })
	t.Run("8 MiB window", func(t *testing.T) { spliceSocketToSocket(t, 8<<20) })
}

func spliceSocketToSocket(t *testing.T, window uint32) {
	clientConn, serverConn := testConnTCP(t)
	conf := bulkConf()
	conf.MaxStreamWindowSize = window
	client, server := testClientServerConfig(t, clientConn, serverConn, conf, conf)
	const streams, size = 4, 8 << 20
	out0, in0, full0, to0 := spliceCounts.out.Load(), spliceCounts.in.Load(), spliceCounts.inFull.Load(), spliceCounts.to.Load()
	pipes0, fallback0 := spliceCounts.pipes.Load(), spliceCounts.fallback.Load()
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
	fallback, pipes := spliceCounts.fallback.Load()-fallback0, spliceCounts.pipes.Load()-pipes0
	t.Logf("spliced: sent %d, received %d (%d bytes met a full pipe; %d through chunks), written out %d; %d pipes", out, in, full, fallback, to, pipes)
	if window <= pipeSize {
		if pipes != 2*streams {
			t.Errorf("%d pipes made, want %d (one per stream and side)", pipes, 2*streams)
		}
	} else if fallback != 0 || pipes <= 2*streams {
		t.Errorf("%d bytes through chunks with a window of %d, %d pipes: want none, and more than one receive pipe per stream", fallback, window, pipes)
	}
	if out != streams*size {
		t.Errorf("%d bytes were sent from pipes, want all %d", out, streams*size)
	}
	if in == 0 || to != in {
		t.Errorf("received into pipes %d, written out of them %d: want the same, > 0", in, to)
	}
}

// TestNoPipeForSmallStreams: a stream that carries small messages one at
// a time into a TCP connection (a kept-alive HTTP connection) never gets
// a pipe, however many bytes it carries in total: for small frames a pipe
// costs system calls (and two descriptors) instead of saving a copy.
func TestNoPipeForSmallStreams(t *testing.T) {
	clientConn, serverConn := testConnTCP(t)
	client, server := testClientServerConfig(t, clientConn, serverConn, bulkConf(), bulkConf())
	s, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	const msgs, size = 3000, 100 // 293 KiB in all, more than one batch's spliceAfter
	rs := make(chan *Stream, 1)
	go func() {
		st, _ := server.AcceptStream()
		rs <- st
	}()
	if _, err := s.Write(pattern(7, size)); err != nil {
		t.Fatal(err)
	}
	dstIn, dstOut := tcpPair(t)
	pipes0 := spliceCounts.pipes.Load()
	done := make(chan error, 1)
	go func() {
		n, err := (<-rs).WriteTo(dstIn)
		_ = dstIn.CloseWrite()
		if err == nil && n != msgs*size {
			err = fmt.Errorf("WriteTo = %d bytes, want %d", n, msgs*size)
		}
		done <- err
	}()
	buf := make([]byte, size)
	for i := 0; i < msgs; i++ {
		if _, err := io.ReadFull(dstOut, buf); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(buf, pattern(7, size)) {
			t.Fatalf("message %d differs", i)
		}
		if i+1 < msgs {
			if _, err := s.Write(pattern(7, size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := spliceCounts.pipes.Load() - pipes0; n != 0 {
		t.Fatalf("%d messages of %d bytes made %d pipes, want none", msgs, size, n)
	}
}
