package proto

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
)

// yamux frame header layout (see yamux's spec.md): version, type, flags,
// stream id, length.
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// PlainTransport prepares a plain TCP connection for yamux: each data
// frame, which yamux writes as a header and a body, goes out in one
// writev system call instead of two.
func PlainTransport(c net.Conn) net.Conn {
	return &muxConn{Conn: c}
}

// TLSTransport wraps raw in TLS (newTLS is tls.Client or tls.Server with
// their configuration) and prepares the result for yamux: the records of
// one yamux frame are written with one system call instead of one per
// record. It returns the TLS connection, to handshake, and the connection
// to give yamux.
func TLSTransport(raw net.Conn, newTLS func(net.Conn) *tls.Conn) (*tls.Conn, net.Conn) {
	b := &batchConn{Conn: raw}
	tc := newTLS(b)
	return tc, &muxConn{Conn: tc, batch: b}
}

// muxConn sits between yamux's single send loop and the transport.
type muxConn struct {
	net.Conn
	batch   *batchConn // set for TLS: the raw connection under it
	hdr     [yamuxHeaderSize]byte
	pending bool
	bufs    [2][]byte
}

// Write holds back the header of a data frame with a body and writes it
// together with the body that yamux writes next. yamux writes from one
// goroutine only, so no lock is needed.
func (c *muxConn) Write(p []byte) (int, error) {
	if !c.pending && len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:12]) > 0 {
		copy(c.hdr[:], p)
		c.pending = true
		return len(p), nil
	}
	if !c.pending {
		return c.Conn.Write(p)
	}
	c.pending = false
	if c.batch == nil {
		c.bufs[0], c.bufs[1] = c.hdr[:], p
		bufs := net.Buffers(c.bufs[:])
		n, err := bufs.WriteTo(c.Conn)
		c.bufs[0], c.bufs[1] = nil, nil
		return max(0, int(n)-yamuxHeaderSize), err
	}
	c.batch.begin()
	_, err := c.Conn.Write(c.hdr[:])
	var n int
	if err == nil {
		n, err = c.Conn.Write(p)
	}
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
