package yamux

// edgeway patch: zero-copy sends with splice(2). When a stream's data
// comes from a TCP connection and the session runs over a TCP connection,
// Stream.ReadFrom moves the bytes socket -> pipe -> socket inside the
// kernel: they never enter this process.

import (
	"io"
	"net"
	"syscall"
)

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	fSetPipeSz     = 1031
	fGetPipeSz     = 1032
	// pipeSize is the pipe capacity asked for: the most one frame moves.
	pipeSize = 1 << 20
)

// rawConnOf returns the raw connection of a TCP session connection, or
// nil when the session cannot splice.
func rawConnOf(conn io.ReadWriteCloser) syscall.RawConn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// splicePipe is a non-blocking pipe carrying one frame at a time.
type splicePipe struct {
	r, w int
	size int
}

func newSplicePipe() (*splicePipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	p := &splicePipe{r: fds[0], w: fds[1], size: 64 << 10}
	// A bigger pipe means bigger frames; the default (64 KiB) still works.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), fSetPipeSz, pipeSize)
	if n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), fGetPipeSz, 0); errno == 0 && n > 0 {
		p.size = int(n)
	}
	return p, nil
}

func (p *splicePipe) close() {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// spliceFrom sends src's data on the stream until src ends, through a
// pipe. ok is false when splicing is not possible (nothing was sent then).
func (s *Stream) spliceFrom(src *net.TCPConn) (total int64, err error, ok bool) {
	if s.session.raw == nil {
		return 0, nil, false
	}
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	p, err := newSplicePipe()
	if err != nil {
		return 0, nil, false
	}
	defer p.close()
	s.sendLock.Lock()
	defer s.sendLock.Unlock()
	for {
		window, err := s.awaitSendWindow()
		if err != nil {
			return total, err, true
		}
		max := p.size
		if int(window) < max {
			max = int(window)
		}
		var n int
		var serr error
		rerr := rc.Read(func(fd uintptr) bool {
			for {
				m, e := syscall.Splice(int(fd), nil, p.w, nil, max, spliceMove|spliceNonblock)
				switch e {
				case syscall.EINTR:
					continue
				case syscall.EAGAIN:
					return false // wait until src is readable
				}
				n, serr = int(m), e
				return true
			}
		})
		if rerr != nil {
			return total, rerr, true
		}
		if serr != nil {
			return total, &net.OpError{Op: "splice", Net: "tcp", Err: serr}, true
		}
		if n == 0 {
			return total, nil, true // src reached EOF
		}
		flags := s.sendFlags()
		s.sendHdr.encode(typeData, flags, s.id, uint32(n))
		if err := s.session.sendSpliced(s.sendHdr, p.r, n, s.sendErr); err != nil {
			// The frame may be half written; the session is gone.
			s.sendHdr = header(make([]byte, headerSize))
			return total, err, true
		}
		atomic32Sub(&s.sendWindow, uint32(n))
		total += int64(n)
	}
}

// spliceOut moves n bytes from the pipe fd to the session connection. It
// runs on the send loop, after the frame's header was written.
func (s *Session) spliceOut(pipeFD, n int) error {
	var serr error
	err := s.raw.Write(func(fd uintptr) bool {
		for n > 0 {
			m, e := syscall.Splice(pipeFD, nil, int(fd), nil, n, spliceMove|spliceNonblock)
			if m > 0 {
				n -= int(m)
			}
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false // wait until the connection is writable
			case e != nil:
				serr = e
				return true
			case m == 0:
				serr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &net.OpError{Op: "splice", Net: "tcp", Err: serr}
	}
	return nil
}
