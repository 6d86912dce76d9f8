package proto

import (
	"crypto/tls"
	"net"
	"sync"
)

// TLSTransport wraps raw in TLS (newTLS is tls.Client or tls.Server with
// their configuration) and prepares the result for yamux: the TLS records
// of one yamux write (the patched yamux coalesces the frames queued
// together into one) go to raw in one system call instead of one per
// 16 KiB record. It returns the TLS connection, to handshake, and the
// connection to give yamux. A plain TCP connection needs no wrapper: yamux
// takes the *net.TCPConn itself (it writes frames with writev and splices
// on it), so nothing may wrap it.
func TLSTransport(raw net.Conn, newTLS func(net.Conn) *tls.Conn) (*tls.Conn, net.Conn) {
	b := &batchConn{Conn: raw}
	tc := newTLS(b)
	return tc, &muxConn{Conn: tc, batch: b}
}

// muxConn is the TLS connection yamux writes to.
type muxConn struct {
	net.Conn
	batch *batchConn // the raw connection under the TLS connection
}

// Write encrypts p and sends its records together. yamux writes from one
// goroutine only.
func (c *muxConn) Write(p []byte) (int, error) {
	c.batch.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.batch.end(); err == nil {
		err = ferr
	}
	return n, err
}

// batchConn is the raw connection under TLS. Between begin and end it
// collects written records and sends them in one write; otherwise (the
// handshake, alerts) it writes through.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

const maxBatch = 512 << 10

// batchBufs holds batch buffers only while a frame is being written, so
// idle connections cost no buffer memory.
var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, maxBatch)
	return &b
}}

func (b *batchConn) begin() {
	bp := batchBufs.Get().(*[]byte)
	b.mu.Lock()
	b.batching = true
	b.buf = (*bp)[:0]
	b.mu.Unlock()
}

func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	err := b.flushLocked()
	buf := b.buf[:0]
	b.buf = nil
	batchBufs.Put(&buf)
	return err
}

func (b *batchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.Conn.Write(p)
	}
	if len(b.buf)+len(p) > maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(b.buf)+len(p) > maxBatch {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
