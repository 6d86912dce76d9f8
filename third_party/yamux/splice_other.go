//go:build !linux

package yamux

import (
	"io"
	"net"
	"syscall"
)

// Splicing is Linux only; elsewhere streams copy through user space.

func rawConnOf(io.ReadWriteCloser) syscall.RawConn { return nil }

func (s *Stream) spliceFrom(*net.TCPConn) (int64, error, bool) { return 0, nil, false }

func (s *Session) spliceOut(int, int) error { return syscall.ENOTSUP }
