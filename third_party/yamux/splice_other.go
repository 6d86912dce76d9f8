//go:build !linux

package yamux

import (
	"io"
	"net"
	"syscall"
)

// Splicing is Linux only; elsewhere streams copy through user space.

func rawConnOf(io.ReadWriteCloser) syscall.RawConn { return nil }

// OpenPipes returns how many splice pipes are open: none here.
func OpenPipes() int64 { return 0 }

func (s *Stream) spliceFrom(*net.TCPConn) (int64, error, bool) { return 0, nil, false }

func (s *Session) spliceOut(int, int) error { return syscall.ENOTSUP }

type splicePipe struct{ queued int }

func countFallback(int) {}

func (s *Stream) startPipe(bool) bool                                  { return false }
func (s *Stream) stopPipe(bool)                                        {}
func (s *Stream) releasePipe()                                         {}
func (s *Stream) closePipeLocked()                                     {}
func (s *Stream) nextPipeLocked() *splicePipe                          { return nil }
func (s *Stream) readPipeLocked(*splicePipe, []byte) int               { return 0 }
func (s *Stream) pipeCopy(io.Writer, *splicePipe, int) (int, error)    { return 0, syscall.ENOTSUP }
func (s *Stream) spliceTo(*net.TCPConn, *splicePipe, int) (int, error) { return 0, syscall.ENOTSUP }
func (s *Session) spliceIn(*splicePipe, int) (int, error)              { return 0, syscall.ENOTSUP }
