package yamux

// Tests of the edgeway patches (EDGEWAY.md): the batched, vectored send
// loop, the chunk queue on the receive side and Stream.WriteTo.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bulkConf is testConf with timeouts that a loaded machine under the race
// detector meets while megabytes queue on one connection.
func bulkConf() *Config {
	conf := testConf()
	conf.KeepAliveInterval = time.Second
	conf.ConnectionWriteTimeout = 10 * time.Second
	return conf
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// writeInPieces writes data to w in pieces of random sizes (1 B to 600 KiB)
// so frames of every size, batched and alone, cross the connection.
func writeInPieces(w io.Writer, data []byte, seed int64) error {
	rnd := rand.New(rand.NewSource(seed))
	for len(data) > 0 {
		n := 1 + rnd.Intn(600<<10)
		if rnd.Intn(4) == 0 {
			n = 1 + rnd.Intn(200)
		}
		if n > len(data) {
			n = len(data)
		}
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// TestWriteToDeliversEveryByte: eight streams in parallel each carry 6 MiB
// written in random pieces; the receiving side drains half of them with
// WriteTo and half with Read, and every byte arrives in order, on plain
// TCP (vectored writes) and TLS (coalesced writes) alike.
func TestWriteToDeliversEveryByte(t *testing.T) {
	testConnTypes(t, func(t testing.TB, clientConn, serverConn io.ReadWriteCloser) {
		conf := bulkConf()
		conf.MaxStreamWindowSize = 1 << 20
		client, server := testClientServerConfig(t, clientConn, serverConn, conf, conf.Clone())
		const streams, size = 8, 6 << 20
		var wg sync.WaitGroup
		errs := make(chan error, 3*streams)
		for i := 0; i < streams; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := client.OpenStream()
				if err != nil {
					errs <- err
					return
				}
				seed := int64(s.StreamID() / 2) // the receiver derives it the same way
				if err := writeInPieces(s, pattern(seed, size), seed); err != nil {
					errs <- fmt.Errorf("stream %d write: %w", i, err)
				}
				errs <- s.Close()
			}()
		}
		for i := 0; i < streams; i++ {
			s, err := server.AcceptStream()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func(s *Stream, useWriteTo bool) {
				defer wg.Done()
				defer s.Close()
				h := sha256.New()
				var n int64
				var err error
				if useWriteTo {
					n, err = s.WriteTo(h)
				} else {
					n, err = io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{s}, make([]byte, 100<<10))
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", s.StreamID(), err)
					return
				}
				want := sha256.Sum256(pattern(int64(s.StreamID()/2), size))
				if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
					errs <- fmt.Errorf("stream %d: got %d bytes (want %d), digest match %v", s.StreamID(), n, size, bytes.Equal(h.Sum(nil), want[:]))
					return
				}
				errs <- nil
			}(s, i%2 == 0)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// blockingWriter accepts writes only while open is not blocked.
type blockingWriter struct {
	gate    chan struct{}
	written atomic.Int64
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.written.Add(int64(len(p)))
	return len(p), nil
}

// TestWriteToKeepsFlowControl: while WriteTo's destination is stuck, the
// sender cannot get more than one receive window ahead of it: chunks taken
// by WriteTo still occupy the window until written.
func TestWriteToKeepsFlowControl(t *testing.T) {
	clientConn, serverConn := testConnTCP(t)
	conf := bulkConf()
	conf.MaxStreamWindowSize = 512 << 10
	client, server := testClientServerConfig(t, clientConn, serverConn, conf, conf.Clone())

	s, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	done := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB, 8 windows
			n, err := s.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				done <- err
				return
			}
		}
		done <- s.Close()
	}()
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	w := &blockingWriter{gate: make(chan struct{})}
	wt := make(chan error, 1)
	go func() {
		_, err := rs.WriteTo(w)
		wt <- err
	}()

	// Wait until the sender is stuck: its count stops moving.
	last, still := int64(-1), 0
	for deadline := time.Now().Add(5 * time.Second); still < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("sender never stalled: %d bytes sent", sent.Load())
		}
		if n := sent.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := sent.Load(); got > int64(conf.MaxStreamWindowSize) || got < 256<<10 {
		t.Fatalf("sender got %d bytes ahead of a stuck destination; want within one window (%d)", got, conf.MaxStreamWindowSize)
	}

	close(w.gate)
	if err := <-done; err != nil {
		t.Fatalf("sender: %v", err)
	}
	if err := <-wt; err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if got := w.written.Load(); got != 4<<20 {
		t.Fatalf("destination got %d bytes, want %d", got, 4<<20)
	}
}

// TestWriteToDeadlineAndErrors: WriteTo honours the read deadline, returns
// the destination's write error, and returns when the session goes away.
func TestWriteToDeadlineAndErrors(t *testing.T) {
	clientConn, serverConn := testConnTCP(t)
	client, server := testClientServerConfig(t, clientConn, serverConn, testConf(), testConf())

	s, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}

	// Deadline: "hello" is delivered, then nothing more arrives.
	var buf bytes.Buffer
	_ = rs.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	begin := time.Now()
	n, err := rs.WriteTo(&buf)
	if !errors.Is(err, ErrTimeout) || n != 5 || buf.String() != "hello" {
		t.Fatalf("WriteTo past the deadline = %d, %v (%q); want 5, ErrTimeout", n, err, buf.String())
	}
	if el := time.Since(begin); el > 2*time.Second {
		t.Fatalf("deadline honoured after %s", el)
	}
	_ = rs.SetReadDeadline(time.Time{})

	// The destination fails: its error comes back.
	boom := errors.New("boom")
	if _, err := s.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.WriteTo(errWriter{boom}); !errors.Is(err, boom) {
		t.Fatalf("WriteTo into a failing writer = %v; want %v", err, boom)
	}

	// The session closes under a waiting WriteTo: it returns.
	ret := make(chan error, 1)
	go func() {
		_, err := rs.WriteTo(io.Discard)
		ret <- err
	}()
	_ = client.Close()
	select {
	case <-ret:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteTo still waiting after the session closed")
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// TestShrinkReleasesTheQueue: an idle stream drops its chunk queue.
func TestShrinkReleasesTheQueue(t *testing.T) {
	client, server := testClientServer(t)
	s, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	rs, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rs, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	rs.Shrink()
	rs.recvLock.Lock()
	defer rs.recvLock.Unlock()
	if rs.recvQ != nil || rs.recvLen != 0 || rs.recvPending != 0 {
		t.Fatalf("after Shrink: queue %v, len %d, pending %d", rs.recvQ, rs.recvLen, rs.recvPending)
	}
}
