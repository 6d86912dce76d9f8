package proto

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// CopyBufferSize is the buffer size Join starts copying with. Large buffers
// mean large yamux frames and fewer system calls per byte.
const CopyBufferSize = 128 << 10

// BulkBufferSize is the buffer size a Copy switches to once a read fills its
// CopyBufferSize buffer, i.e. once the direction carries bulk data: fewer,
// larger yamux frames and system calls per byte. Connections that never
// fill a buffer (requests, interactive sessions) never hold one.
const BulkBufferSize = 512 << 10

var bulkPool = sync.Pool{New: func() any {
	b := make([]byte, BulkBufferSize)
	return &b
}}

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, CopyBufferSize)
	return &b
}}

// GetBuffer returns a CopyBufferSize buffer from a shared pool; return it
// with PutBuffer.
func GetBuffer() *[]byte { return bufPool.Get().(*[]byte) }

// PutBuffer returns a buffer obtained from GetBuffer to the pool.
func PutBuffer(b *[]byte) { bufPool.Put(b) }

// Copy copies from src to dst through a pooled CopyBufferSize buffer,
// switching to a pooled BulkBufferSize buffer once a read fills the small
// one. A yamux stream as src writes its received data to dst itself
// (Stream.WriteTo, no copy through a buffer), and a yamux stream as dst
// takes a TCP connection's bulk data with splice(2) (Stream.ReadFrom);
// other ReaderFrom/WriterTo fast paths are bypassed because they fall back
// to small buffers.
func Copy(dst io.Writer, src io.Reader) (written int64, err error) {
	switch s := src.(type) {
	case *yamux.Stream:
		// The stream hands its received chunks to dst as they are.
		return s.WriteTo(dst)
	case *AckedStream:
		return s.WriteTo(dst)
	}
	// A TCP connection into a stream goes socket to socket inside the
	// kernel (splice, Linux) once it proves to carry bulk data: a pipe
	// costs two descriptors, so requests and interactive sessions that
	// never fill a buffer keep the buffered copy.
	var bulk io.ReaderFrom
	if tc, ok := src.(*net.TCPConn); ok {
		switch s := dst.(type) {
		case *yamux.Stream:
			bulk = s
		case *AckedStream:
			bulk = s.Stream
		}
		if bulk != nil {
			src = tc
		}
	}
	bp, pool := GetBuffer(), &bufPool
	defer func() { pool.Put(bp) }()
	for {
		buf := *bp
		nr, er := src.Read(buf)
		if nr > 0 {
			nw, ew := dst.Write(buf[:nr])
			if nw < 0 || nr < nw {
				nw = 0
				if ew == nil {
					ew = errInvalidWrite
				}
			}
			written += int64(nw)
			if ew != nil {
				return written, ew
			}
			if nr != nw {
				return written, io.ErrShortWrite
			}
			if nr == len(buf) && pool == &bufPool {
				if bulk != nil {
					n, err := bulk.ReadFrom(src)
					return written + n, err
				}
				bufPool.Put(bp)
				bp, pool = bulkPool.Get().(*[]byte), &bulkPool
			}
		}
		if er != nil {
			if er != io.EOF {
				err = er
			}
			return written, err
		}
	}
}

var errInvalidWrite = errors.New("invalid write result")

type closeWriter interface{ CloseWrite() error }

// Join splices a and b in both directions until both directions end, then
// closes both. When one side reaches EOF the other side's write half is
// closed (CloseWrite when available, Close otherwise), so half-closed
// protocols work. It returns the bytes copied from a to b and from b to a.
func Join(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bToA = halfJoin(a, b)
	}()
	aToB = halfJoin(b, a)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
	return aToB, bToA
}

func halfJoin(dst, src net.Conn) int64 {
	n, err := Copy(dst, src)
	if err != nil {
		// A broken direction tears down both: expired deadlines unblock
		// the other copy even on a half-closed yamux stream.
		past := time.Unix(1, 0)
		_ = dst.SetDeadline(past)
		_ = src.SetDeadline(past)
		_ = dst.Close()
		_ = src.Close()
		return n
	}
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
	return n
}
