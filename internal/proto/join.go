package proto

import (
	"io"
	"net"
	"sync"
	"time"
)

// CopyBufferSize is the buffer size Join copies with. Large buffers mean
// large yamux frames and fewer system calls per byte.
const CopyBufferSize = 128 << 10

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
// bypassing ReaderFrom/WriterTo fast paths that would fall back to small
// buffers for yamux streams.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	b := GetBuffer()
	defer PutBuffer(b)
	return io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *b)
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

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
