package yamux

// edgeway patch: zero-copy sends with splice(2). When a stream's data
// comes from a TCP connection and the session runs over a TCP connection,
// Stream.ReadFrom moves the bytes socket -> pipe -> socket inside the
// kernel: they never enter this process.

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	fSetPipeSz     = 1031
	fGetPipeSz     = 1032
	// pipeSize is the pipe capacity asked for: the most one frame moves.
	pipeSize = 1 << 20
	siocinq  = 0x541B // SIOCINQ (FIONREAD): bytes in a socket's receive queue
)

// spliceCounts counts bytes by path, for tests: sent from a pipe, received
// into a pipe, received through chunks because the pipe was full, and
// written from a pipe to a destination; and the pipes created.
var spliceCounts struct {
	out, in, inFull, to atomic.Int64
	pipes               atomic.Int64 // pipes created
	fallback            atomic.Int64 // received through chunks although the stream had pipes (all full)
}

func countFallback(n int) { spliceCounts.fallback.Add(int64(n)) }

// openPipes counts the pipes open now (OpenPipes).
var openPipes atomic.Int64

// OpenPipes returns how many splice pipes are open in the process (edgeway
// patch), for leak checks in tests.
func OpenPipes() int64 { return openPipes.Load() }

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

// splicePipe is a non-blocking pipe. A send pipe carries one frame at a
// time; a stream's receive pipes queue frame bodies (queued bytes, counted
// under recvLock).
type splicePipe struct {
	r, w   int
	size   int
	queued int
}

func newSplicePipe() (*splicePipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	spliceCounts.pipes.Add(1)
	openPipes.Add(1)
	p := &splicePipe{r: fds[0], w: fds[1], size: 64 << 10}
	// A bigger pipe means bigger frames; the default (64 KiB) still works.
	// Beyond /proc/sys/fs/pipe-max-size (1 MiB by default) needs
	// CAP_SYS_RESOURCE: a stream uses several pipes instead.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), fSetPipeSz, pipeSize)
	if n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), fGetPipeSz, 0); errno == 0 && n > 0 {
		p.size = int(n)
	}
	return p, nil
}

func (p *splicePipe) close() {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
	openPipes.Add(-1)
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
	done, err := drainPipe(s.raw, pipeFD, n)
	spliceCounts.out.Add(int64(done))
	return err
}

// ---- receiving: session connection -> pipe -> destination socket

// startPipe registers WriteTo as a user of the stream's receive pipes,
// creating the first one when create is set and the session can splice.
// It reports whether WriteTo uses the pipes (and must call stopPipe).
func (s *Stream) startPipe(create bool) bool {
	s.recvLock.Lock()
	defer s.recvLock.Unlock()
	if s.rxPipe == nil {
		if !create || s.rxDead || s.session.raw == nil {
			return false
		}
		p, err := newSplicePipe()
		if err != nil {
			return false
		}
		s.rxPipe = p
		s.rxPipes = append(s.rxPipes, p)
	}
	s.rxUsers++
	return true
}

// nextPipeLocked returns an empty receive pipe other than the current one
// (full), making one while the stream has fewer than the receive window
// needs (the window is larger than a pipe), or nil. recvLock must be held.
func (s *Stream) nextPipeLocked() *splicePipe {
	for _, p := range s.rxPipes {
		if p != s.rxPipe && p.queued == 0 {
			return p
		}
	}
	if len(s.rxPipes)*pipeSize >= int(s.session.config.MaxStreamWindowSize) {
		return nil
	}
	p, err := newSplicePipe()
	if err != nil {
		return nil
	}
	s.rxPipes = append(s.rxPipes, p)
	return p
}

// pipeCopy copies n bytes queued in pipe p to w through a buffer (a
// WriteTo into something other than a TCP connection after an earlier one
// left bytes in the pipe).
func (s *Stream) pipeCopy(w io.Writer, p *splicePipe, n int) (int, error) {
	buf := make([]byte, 64<<10)
	done := 0
	for done < n {
		want := n - done
		if want > len(buf) {
			want = len(buf)
		}
		m, err := syscall.Read(p.r, buf[:want])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			return done, io.ErrUnexpectedEOF
		}
		k, werr := w.Write(buf[:m])
		done += k
		if werr != nil {
			return done, werr
		}
	}
	return done, nil
}

// stopPipe ends WriteTo's use of the pipes; dead marks them for closing
// once nobody uses them (WriteTo took everything: they are empty).
func (s *Stream) stopPipe(dead bool) {
	s.recvLock.Lock()
	defer s.recvLock.Unlock()
	if s.rxPipe == nil {
		return
	}
	s.rxUsers--
	if dead {
		s.rxDead = true
	}
	if s.rxDead && s.rxUsers == 0 {
		s.closePipeLocked()
	}
}

// releasePipe closes the pipes once nobody uses them (the stream is done).
func (s *Stream) releasePipe() {
	s.recvLock.Lock()
	defer s.recvLock.Unlock()
	s.rxDead = true
	if s.rxPipe != nil && s.rxUsers == 0 {
		s.closePipeLocked()
	}
}

// closePipeLocked closes the pipes; bytes still in them are dropped from
// the queue. recvLock must be held and nobody may be using the pipes.
func (s *Stream) closePipeLocked() {
	if s.rxPipe == nil {
		return
	}
	for _, p := range s.rxPipes {
		p.close()
	}
	clear(s.rxPipes)
	s.rxPipes = s.rxPipes[:0]
	s.rxPipe = nil
	kept := s.recvQ[:0]
	for _, c := range s.recvQ {
		if c.buf == nil {
			s.recvLen -= uint32(c.end - c.off)
			continue
		}
		kept = append(kept, c)
	}
	clear(s.recvQ[len(kept):])
	s.recvQ = kept
}

// readPipeLocked reads bytes queued in pipe p into b (Read after WriteTo
// returned early). recvLock must be held.
func (s *Stream) readPipeLocked(p *splicePipe, b []byte) int {
	if p == nil || len(b) == 0 {
		return 0
	}
	for {
		n, err := syscall.Read(p.r, b)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			return 0
		}
		p.queued -= n
		return n
	}
}

// spliceIn moves up to n bytes of the frame body being received into the
// pipe: first what the header reader buffered, then straight from the
// socket. It stops early, without error, when the pipe is full.
func (s *Session) spliceIn(p *splicePipe, n int) (moved int, err error) {
	if b := s.bufRead.Buffered(); b > 0 {
		if b > n {
			b = n
		}
		peek, _ := s.bufRead.Peek(b)
		w, _ := syscall.Write(p.w, peek)
		if w > 0 {
			_, _ = s.bufRead.Discard(w)
			moved = w
		}
		if moved < len(peek) || moved == n {
			spliceCounts.in.Add(int64(moved))
			return moved, nil
		}
	}
	var serr error
	rerr := s.raw.Read(func(fd uintptr) bool {
		for moved < n {
			m, e := syscall.Splice(int(fd), nil, p.w, nil, n-moved, spliceMove|spliceNonblock)
			if m > 0 {
				moved += int(m)
				continue
			}
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				if socketInq(fd) > 0 {
					spliceCounts.inFull.Add(int64(n - moved))
					return true // the pipe is full
				}
				return false // wait for the rest of the frame
			case nil:
				serr = io.ErrUnexpectedEOF
			default:
				serr = &net.OpError{Op: "splice", Net: "tcp", Err: e}
			}
			return true
		}
		return true
	})
	spliceCounts.in.Add(int64(moved))
	if rerr != nil {
		return moved, rerr
	}
	return moved, serr
}

// socketInq returns how many bytes wait in a socket's receive queue.
func socketInq(fd uintptr) int {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, siocinq, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0
	}
	return int(n)
}

// spliceTo moves n bytes queued in pipe p to dst.
func (s *Stream) spliceTo(dst *net.TCPConn, p *splicePipe, n int) (int, error) {
	rc, err := dst.SyscallConn()
	if err != nil {
		return 0, err
	}
	done, err := drainPipe(rc, p.r, n)
	spliceCounts.to.Add(int64(done))
	return done, err
}

// drainPipe moves n bytes waiting in the pipe pipeFD to the socket behind
// rc, waiting whenever the socket is full.
func drainPipe(rc syscall.RawConn, pipeFD, n int) (done int, err error) {
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		for done < n {
			m, e := syscall.Splice(pipeFD, nil, int(fd), nil, n-done, spliceMove|spliceNonblock)
			if m > 0 {
				done += int(m)
				continue
			}
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until the socket is writable
			case nil:
				serr = io.ErrUnexpectedEOF // the pipe held less than n
			default:
				serr = &net.OpError{Op: "splice", Net: "tcp", Err: e}
			}
			return true
		}
		return true
	})
	if werr != nil {
		return done, werr
	}
	return done, serr
}
