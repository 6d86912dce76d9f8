package yamux

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

type streamState int

const (
	streamInit streamState = iota
	streamSYNSent
	streamSYNReceived
	streamEstablished
	streamLocalClose
	streamRemoteClose
	streamClosed
	streamReset
)

// Stream is used to represent a logical stream
// within a session.
type Stream struct {
	recvWindow uint32
	sendWindow uint32

	id      uint32
	session *Session

	state     streamState
	stateLock sync.Mutex

	// Received data waits in recvQ, a queue of pooled chunks (edgeway
	// patch: the session's receive loop fills a chunk without holding
	// recvLock, and WriteTo hands chunks to the destination without
	// copying them again). recvLen counts the unread bytes in recvQ;
	// recvPending counts bytes that are being read from the connection or
	// written out by WriteTo: they still occupy the receive window.
	recvQ       []recvChunk
	recvLen     uint32
	recvPending uint32
	recvLock    sync.Mutex

	// rxPipes, made while WriteTo splices into a TCP connection, receive
	// frame bodies straight from the session connection (edgeway patch;
	// Linux); rxPipe is the one being filled. When it is full (a slow
	// destination) the receive loop goes on in an empty one, up to a
	// receive window's worth. recvQ entries without a buffer are bytes
	// waiting in a pipe. rxUsers counts WriteTo and the receive loop
	// while they use them; rxDead: close them once nobody does.
	rxPipe  *splicePipe
	rxPipes []*splicePipe
	rxDead  bool
	rxUsers int

	controlHdr     header
	controlErr     chan error
	controlHdrLock sync.Mutex

	sendHdr  header
	sendErr  chan error
	sendLock sync.Mutex

	recvNotifyCh chan struct{}
	sendNotifyCh chan struct{}

	readDeadline  atomic.Value // time.Time
	writeDeadline atomic.Value // time.Time

	// establishCh is notified if the stream is established or being closed.
	establishCh chan struct{}

	// closeTimer is set with stateLock held to honor the StreamCloseTimeout
	// setting on Session.
	closeTimer *time.Timer
}

// newStream is used to construct a new stream within
// a given session for an ID
func newStream(session *Session, id uint32, state streamState) *Stream {
	s := &Stream{
		id:           id,
		session:      session,
		state:        state,
		controlHdr:   header(make([]byte, headerSize)),
		controlErr:   make(chan error, 1),
		sendHdr:      header(make([]byte, headerSize)),
		sendErr:      make(chan error, 1),
		recvWindow:   initialStreamWindow,
		sendWindow:   initialStreamWindow,
		recvNotifyCh: make(chan struct{}, 1),
		sendNotifyCh: make(chan struct{}, 1),
		establishCh:  make(chan struct{}, 1),
	}
	s.readDeadline.Store(time.Time{})
	s.writeDeadline.Store(time.Time{})
	return s
}

// Session returns the associated stream session
func (s *Stream) Session() *Session {
	return s.session
}

// StreamID returns the ID of this stream
func (s *Stream) StreamID() uint32 {
	return s.id
}

// Read is used to read from the stream
func (s *Stream) Read(b []byte) (n int, err error) {
	defer asyncNotify(s.recvNotifyCh)
START:

	// If the stream is closed and there's no data buffered, return EOF
	s.stateLock.Lock()
	switch s.state {
	case streamLocalClose:
		// LocalClose only prohibits further local writes. Handle reads normally.
	case streamRemoteClose:
		fallthrough
	case streamClosed:
		s.recvLock.Lock()
		if s.recvLen == 0 && s.recvPending == 0 {
			s.recvLock.Unlock()
			s.stateLock.Unlock()
			return 0, io.EOF
		}
		s.recvLock.Unlock()
	case streamReset:
		s.stateLock.Unlock()
		return 0, ErrConnectionReset
	}
	s.stateLock.Unlock()

	// If there is no data available, block
	s.recvLock.Lock()
	if s.recvLen == 0 {
		s.recvLock.Unlock()
		goto WAIT
	}

	// Read any bytes
	n = s.readQueued(b)
	s.recvLock.Unlock()

	// Send a window update potentially. The bytes were read either way:
	// a session that can no longer send shows in the next Read (edgeway
	// patch; upstream returned the write error with the data).
	_ = s.sendWindowUpdate()
	return n, nil

WAIT:
	if err := s.waitRecv(); err != nil {
		return 0, err
	}
	goto START
}

// waitRecv waits until received data or a state change is signalled, the
// session shuts down, or the read deadline passes (ErrTimeout). Read and
// WriteTo share it (edgeway: factored out of Read).
func (s *Stream) waitRecv() error {
	var timeout <-chan time.Time
	var timer *time.Timer
	readDeadline := s.readDeadline.Load().(time.Time)
	if !readDeadline.IsZero() {
		delay := time.Until(readDeadline)
		timer = time.NewTimer(delay)
		timeout = timer.C
	}
	select {
	case <-s.session.shutdownCh:
	case <-s.recvNotifyCh:
	case <-timeout:
		return ErrTimeout
	}
	if timer != nil {
		if !timer.Stop() {
			<-timeout
		}
	}
	return nil
}

// Write is used to write to the stream
func (s *Stream) Write(b []byte) (n int, err error) {
	s.sendLock.Lock()
	defer s.sendLock.Unlock()
	total := 0
	for total < len(b) {
		n, err := s.write(b[total:])
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// write is used to write to the stream, may return on
// a short write.
func (s *Stream) write(b []byte) (n int, err error) {
	window, err := s.awaitSendWindow()
	if err != nil {
		return 0, err
	}

	// Determine the flags if any
	flags := s.sendFlags()

	// Send up to our send window
	max := min(window, uint32(len(b)))
	body := b[:max]

	// Send the header
	s.sendHdr.encode(typeData, flags, s.id, max)
	if err = s.session.waitForSendErr(s.sendHdr, body, s.sendErr); err != nil {
		if errors.Is(err, ErrSessionShutdown) || errors.Is(err, ErrConnectionWriteTimeout) {
			// Message left in ready queue, header re-use is unsafe.
			s.sendHdr = header(make([]byte, headerSize))
		}
		return 0, err
	}

	// Reduce our send window
	atomic.AddUint32(&s.sendWindow, ^uint32(max-1))

	// Unlock
	return int(max), err
}

// awaitSendWindow waits until the stream may send data and returns its
// send window, honouring the write deadline (edgeway: factored out of
// write for ReadFrom).
func (s *Stream) awaitSendWindow() (uint32, error) {
START:
	s.stateLock.Lock()
	switch s.state {
	case streamLocalClose:
		fallthrough
	case streamClosed:
		s.stateLock.Unlock()
		return 0, ErrStreamClosed
	case streamReset:
		s.stateLock.Unlock()
		return 0, ErrConnectionReset
	}
	s.stateLock.Unlock()

	// If there is no data available, block
	window := atomic.LoadUint32(&s.sendWindow)
	if window != 0 {
		return window, nil
	}

	var timeout <-chan time.Time
	var timer *time.Timer
	writeDeadline := s.writeDeadline.Load().(time.Time)
	if !writeDeadline.IsZero() {
		delay := time.Until(writeDeadline)
		timer = time.NewTimer(delay)
		timeout = timer.C
	}
	select {
	case <-s.session.shutdownCh:
	case <-s.sendNotifyCh:
	case <-timeout:
		return 0, ErrTimeout
	}
	if timer != nil {
		if !timer.Stop() {
			<-timeout
		}
	}
	goto START
}

// ReadFrom sends r's data on the stream until r ends (io.ReaderFrom;
// edgeway patch). From a *net.TCPConn over a TCP session on Linux the
// bytes move with splice(2) and never enter this process; other readers
// are copied through a buffer.
func (s *Stream) ReadFrom(r io.Reader) (int64, error) {
	if tc, ok := r.(*net.TCPConn); ok {
		if n, err, ok := s.spliceFrom(tc); ok {
			return n, err
		}
	}
	// Hide ReadFrom from io.CopyBuffer, which would call it again.
	return io.CopyBuffer(struct{ io.Writer }{s}, r, make([]byte, 128<<10))
}

// atomic32Sub subtracts n from *p.
func atomic32Sub(p *uint32, n uint32) { atomic.AddUint32(p, ^(n - 1)) }

// sendFlags determines any flags that are appropriate
// based on the current stream state
func (s *Stream) sendFlags() uint16 {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	var flags uint16
	switch s.state {
	case streamInit:
		flags |= flagSYN
		s.state = streamSYNSent
	case streamSYNReceived:
		flags |= flagACK
		s.state = streamEstablished
	}
	return flags
}

// sendWindowUpdate potentially sends a window update enabling
// further writes to take place. Must be invoked with the lock.
func (s *Stream) sendWindowUpdate() error {
	s.controlHdrLock.Lock()
	defer s.controlHdrLock.Unlock()

	// Determine the delta update
	max := s.session.config.MaxStreamWindowSize
	s.recvLock.Lock()
	bufLen := s.recvLen + s.recvPending
	delta := (max - bufLen) - s.recvWindow

	// Determine the flags if any
	flags := s.sendFlags()

	// Check if we can omit the update
	if delta < (max/2) && flags == 0 {
		s.recvLock.Unlock()
		return nil
	}

	// Update our window
	s.recvWindow += delta
	s.recvLock.Unlock()

	// Send the header
	s.controlHdr.encode(typeWindowUpdate, flags, s.id, delta)
	if err := s.session.waitForSendErr(s.controlHdr, nil, s.controlErr); err != nil {
		if errors.Is(err, ErrSessionShutdown) || errors.Is(err, ErrConnectionWriteTimeout) {
			// Message left in ready queue, header re-use is unsafe.
			s.controlHdr = header(make([]byte, headerSize))
		}
		return err
	}
	return nil
}

// sendClose is used to send a FIN
func (s *Stream) sendClose() error {
	s.controlHdrLock.Lock()
	defer s.controlHdrLock.Unlock()

	flags := s.sendFlags()
	flags |= flagFIN
	s.controlHdr.encode(typeWindowUpdate, flags, s.id, 0)
	if err := s.session.waitForSendErr(s.controlHdr, nil, s.controlErr); err != nil {
		if errors.Is(err, ErrSessionShutdown) || errors.Is(err, ErrConnectionWriteTimeout) {
			// Message left in ready queue, header re-use is unsafe.
			s.controlHdr = header(make([]byte, headerSize))
		}
		return err
	}
	return nil
}

// Close is used to close the stream
func (s *Stream) Close() error {
	closeStream := false
	s.stateLock.Lock()
	switch s.state {
	// Opened means we need to signal a close
	case streamSYNSent:
		fallthrough
	case streamSYNReceived:
		fallthrough
	case streamEstablished:
		s.state = streamLocalClose
		goto SEND_CLOSE

	case streamLocalClose:
	case streamRemoteClose:
		s.state = streamClosed
		closeStream = true
		goto SEND_CLOSE

	case streamClosed:
	case streamReset:
	default:
		panic("unhandled state")
	}
	s.stateLock.Unlock()
	return nil
SEND_CLOSE:
	// This shouldn't happen (the more realistic scenario to cancel the
	// timer is via processFlags) but just in case this ever happens, we
	// cancel the timer to prevent dangling timers.
	if s.closeTimer != nil {
		s.closeTimer.Stop()
		s.closeTimer = nil
	}

	// If we have a StreamCloseTimeout set we start the timeout timer.
	// We do this only if we're not already closing the stream since that
	// means this was a graceful close.
	//
	// This prevents memory leaks if one side (this side) closes and the
	// remote side poorly behaves and never responds with a FIN to complete
	// the close. After the specified timeout, we clean our resources up no
	// matter what.
	if !closeStream && s.session.config.StreamCloseTimeout > 0 {
		s.closeTimer = time.AfterFunc(
			s.session.config.StreamCloseTimeout, s.closeTimeout)
	}

	s.stateLock.Unlock()
	s.sendClose()
	s.notifyWaiting()
	if closeStream {
		s.session.closeStream(s.id)
	}
	return nil
}

// closeTimeout is called after StreamCloseTimeout during a close to
// close this stream.
func (s *Stream) closeTimeout() {
	// Close our side forcibly
	s.forceClose()

	// Free the stream from the session map
	s.session.closeStream(s.id)

	// Send a RST so the remote side closes too.
	s.sendLock.Lock()
	defer s.sendLock.Unlock()
	hdr := header(make([]byte, headerSize))
	hdr.encode(typeWindowUpdate, flagRST, s.id, 0)
	_ = s.session.sendNoWait(hdr)
}

// forceClose is used for when the session is exiting
func (s *Stream) forceClose() {
	s.stateLock.Lock()
	s.state = streamClosed
	s.stateLock.Unlock()
	s.releasePipe()
	s.notifyWaiting()
}

// processFlags is used to update the state of the stream
// based on set flags, if any. Lock must be held
func (s *Stream) processFlags(flags uint16) error {
	s.stateLock.Lock()

	// Close the stream without holding the state lock (edgeway: upstream
	// held it; closeStream now releases the receive pipe, which takes
	// recvLock, and Read takes recvLock before stateLock).
	closeStream := false
	defer func() {
		if closeStream {
			if s.closeTimer != nil {
				// Stop our close timeout timer since we gracefully closed
				s.closeTimer.Stop()
			}
			s.stateLock.Unlock()
			s.session.closeStream(s.id)
			return
		}
		s.stateLock.Unlock()
	}()

	if flags&flagACK == flagACK {
		if s.state == streamSYNSent {
			s.state = streamEstablished
		}
		asyncNotify(s.establishCh)
		s.session.establishStream(s.id)
	}
	if flags&flagFIN == flagFIN {
		switch s.state {
		case streamSYNSent:
			fallthrough
		case streamSYNReceived:
			fallthrough
		case streamEstablished:
			s.state = streamRemoteClose
			s.notifyWaiting()
		case streamLocalClose:
			s.state = streamClosed
			closeStream = true
			s.notifyWaiting()
		default:
			s.session.logger.Printf("[ERR] yamux: unexpected FIN flag in state %d", s.state)
			return ErrUnexpectedFlag
		}
	}
	if flags&flagRST == flagRST {
		s.state = streamReset
		closeStream = true
		s.notifyWaiting()
	}
	return nil
}

// notifyWaiting notifies all the waiting channels
func (s *Stream) notifyWaiting() {
	asyncNotify(s.recvNotifyCh)
	asyncNotify(s.sendNotifyCh)
	asyncNotify(s.establishCh)
}

// incrSendWindow updates the size of our send window
func (s *Stream) incrSendWindow(hdr header, flags uint16) error {
	if err := s.processFlags(flags); err != nil {
		return err
	}

	// Increase window, unblock a sender
	atomic.AddUint32(&s.sendWindow, hdr.Length())
	asyncNotify(s.sendNotifyCh)
	return nil
}

// readData is used to handle a data frame
func (s *Stream) readData(hdr header, flags uint16, conn io.Reader) error {
	if err := s.processFlags(flags); err != nil {
		return err
	}

	// Check that our recv window is not exceeded
	length := hdr.Length()
	if length == 0 {
		return nil
	}

	// Reserve the frame in the receive window, then read its body into
	// pooled chunks without holding recvLock, so that readers keep
	// draining the queue meanwhile.
	s.recvLock.Lock()
	if length > s.recvWindow {
		s.session.logger.Printf("[ERR] yamux: receive window exceeded (stream: %d, remain: %d, recv: %d)", s.id, s.recvWindow, length)
		s.recvLock.Unlock()
		return ErrRecvWindowExceeded
	}
	s.recvWindow -= length
	s.recvPending += length
	pipe := s.rxPipe
	if pipe != nil && !s.rxDead {
		s.rxUsers++
	} else {
		pipe = nil
	}
	s.recvLock.Unlock()

	left := int(length)
	hadPipe := pipe != nil
	for pipe != nil {
		// Move what fits into the pipe; when it fills up, go on in an
		// empty one, and when there is none, through chunks, in order.
		moved, err := s.session.spliceIn(pipe, left)
		left -= moved
		s.recvLock.Lock()
		if moved > 0 {
			s.recvQ = append(s.recvQ, recvChunk{pipe: pipe, end: moved})
			s.recvLen += uint32(moved)
			s.recvPending -= uint32(moved)
			pipe.queued += moved
		}
		if err != nil {
			s.recvPending -= uint32(left)
		}
		next := (*splicePipe)(nil)
		if err == nil && left > 0 && !s.rxDead {
			if next = s.nextPipeLocked(); next != nil {
				s.rxPipe = next
			}
		}
		if next == nil {
			s.rxUsers--
			if s.rxDead && s.rxUsers == 0 {
				s.closePipeLocked()
			}
		}
		s.recvLock.Unlock()
		asyncNotify(s.recvNotifyCh)
		if err != nil {
			s.session.logger.Printf("[ERR] yamux: Failed to read stream data: %v", err)
			return err
		}
		pipe = next
	}

	if hadPipe && left > 0 {
		countFallback(left)
	}
	for left > 0 {
		buf := getChunk(left)
		n := len(*buf)
		if left < n {
			n = left
		}
		got, err := io.ReadFull(conn, (*buf)[:n])
		left -= got
		s.recvLock.Lock()
		if got > 0 {
			s.recvQ = append(s.recvQ, recvChunk{buf: buf, end: got})
			s.recvLen += uint32(got)
		} else {
			putChunk(buf)
		}
		s.recvPending -= uint32(got)
		if err != nil {
			// Keep what arrived, like a partial read would; the rest of
			// the frame never will.
			s.recvPending -= uint32(left)
		}
		s.recvLock.Unlock()
		// Unblock any readers
		asyncNotify(s.recvNotifyCh)
		if err != nil {
			s.session.logger.Printf("[ERR] yamux: Failed to read stream data: %v", err)
			return err
		}
	}
	return nil
}

// readQueued copies queued data into b, releasing the chunks it empties.
// recvLock must be held.
func (s *Stream) readQueued(b []byte) (n int) {
	i := 0
	for ; i < len(s.recvQ) && n < len(b); i++ {
		c := &s.recvQ[i]
		var m int
		if c.buf == nil {
			end := n + c.end - c.off
			if end > len(b) {
				end = len(b)
			}
			m = s.readPipeLocked(c.pipe, b[n:end])
			if m == 0 {
				break
			}
		} else {
			m = copy(b[n:], (*c.buf)[c.off:c.end])
		}
		n += m
		c.off += m
		if c.off < c.end {
			break
		}
		if c.buf != nil {
			putChunk(c.buf)
			c.buf = nil
		}
	}
	s.dropChunks(i)
	s.recvLen -= uint32(n)
	return n
}

// dropChunks removes the first i (released) chunks from recvQ. recvLock
// must be held.
func (s *Stream) dropChunks(i int) {
	if i == 0 {
		return
	}
	rest := copy(s.recvQ, s.recvQ[i:])
	clear(s.recvQ[rest:])
	s.recvQ = s.recvQ[:rest]
}

// WriteTo writes the stream's data to w until the remote side closes the
// stream (edgeway patch). Queued chunks go to w as they are, in one
// vectored write when w supports it, instead of being copied into a
// caller's buffer first. It implements io.WriterTo, so io.Copy(w, stream)
// uses it.
func (s *Stream) WriteTo(w io.Writer) (written int64, err error) {
	var (
		chunks []recvChunk
		bufs   net.Buffers
		bulk   int
	)
	dst, _ := w.(*net.TCPConn)
	// A pipe costs two descriptors: a stream gets one once it carries
	// bulk data (spliceAfter), or when an earlier WriteTo left one.
	piped := s.startPipe(false)
	for {
		chunks, err = s.takeQueued(chunks[:0])
		if err != nil {
			if piped {
				// At EOF everything was taken: the pipe is empty.
				s.stopPipe(err == io.EOF)
			}
			if err == io.EOF {
				err = nil
			}
			return written, err
		}
		bufs = bufs[:0]
		var size uint32
		for i := range chunks {
			size += uint32(chunks[i].end - chunks[i].off)
		}
		// Bulk data: consecutive batches of at least bulkBatch bytes
		// adding up to spliceAfter. The pipe then takes the frames that
		// arrive while this batch is written.
		if size >= bulkBatch {
			bulk += int(size)
		} else {
			bulk = 0
		}
		if !piped && dst != nil && bulk >= spliceAfter {
			piped = s.startPipe(true)
		}
		var werr error
		for i := range chunks {
			c := &chunks[i]
			if c.buf != nil {
				bufs = append(bufs, (*c.buf)[c.off:c.end])
				continue
			}
			// Bytes in a pipe: what precedes them goes first.
			if len(bufs) > 0 {
				var n int64
				n, werr = bufs.WriteTo(w)
				written += n
				bufs = bufs[:0]
			}
			if werr == nil {
				var n int
				if dst != nil {
					n, werr = s.spliceTo(dst, c.pipe, c.end-c.off)
				} else {
					n, werr = s.pipeCopy(w, c.pipe, c.end-c.off)
				}
				written += int64(n)
			}
			if werr != nil {
				break
			}
		}
		if werr == nil && len(bufs) > 0 {
			var n int64
			n, werr = bufs.WriteTo(w)
			written += n
		}
		s.recvLock.Lock()
		for i := range chunks {
			if chunks[i].buf != nil {
				putChunk(chunks[i].buf)
			} else if p := chunks[i].pipe; p != nil {
				// Out of the pipe (or, after an error, about to be
				// dropped with it): the receive loop may refill it.
				p.queued -= chunks[i].end - chunks[i].off
			}
			chunks[i] = recvChunk{}
		}
		s.recvPending -= size
		s.recvLock.Unlock()
		if werr != nil {
			if piped {
				s.stopPipe(true) // skipped pipe bytes are lost anyway
			}
			return written, werr
		}
		if err := s.sendWindowUpdate(); err != nil && err != ErrSessionShutdown {
			return written, err
		}
		asyncNotify(s.recvNotifyCh)

	}
}

// A stream gets a receive pipe once consecutive batches of at least
// bulkBatch bytes add up to spliceAfter (bulk data). A total over the
// stream's life would not do: a kept-alive HTTP connection carries many
// small requests, for which the pipe costs system calls per frame rather
// than saving a copy.
const (
	spliceAfter = 256 << 10
	bulkBatch   = 16 << 10
)

// takeQueued waits until data is queued and moves all of it to dst,
// counting it as pending until the caller has written it. It returns
// io.EOF once the remote side has closed and everything was taken, and
// honours the read deadline like Read.
func (s *Stream) takeQueued(dst []recvChunk) ([]recvChunk, error) {
	for {
		s.stateLock.Lock()
		state := s.state
		s.stateLock.Unlock()
		if state == streamReset {
			return dst, ErrConnectionReset
		}
		s.recvLock.Lock()
		if s.recvLen > 0 {
			dst = append(dst, s.recvQ...)
			clear(s.recvQ)
			s.recvQ = s.recvQ[:0]
			s.recvPending += s.recvLen
			s.recvLen = 0
			s.recvLock.Unlock()
			return dst, nil
		}
		pending := s.recvPending
		s.recvLock.Unlock()
		if (state == streamRemoteClose || state == streamClosed) && pending == 0 {
			return dst, io.EOF
		}

		if err := s.waitRecv(); err != nil {
			return dst, err
		}
	}
}

// recvChunk is a piece of received data: (*buf)[off:end] is unread.
type recvChunk struct {
	buf      *[]byte
	pipe     *splicePipe // bytes in a receive pipe (buf is nil)
	off, end int
}

// Chunk pools by size: a frame's body is read into the smallest chunk that
// holds it, big frames into several of the largest.
var chunkSizes = [...]int{4 << 10, 32 << 10, 256 << 10}

var chunkPools [len(chunkSizes)]sync.Pool

func init() {
	for i, size := range chunkSizes {
		chunkPools[i].New = func() any {
			b := make([]byte, size)
			return &b
		}
	}
}

func getChunk(n int) *[]byte {
	for i, size := range chunkSizes {
		if n <= size || i == len(chunkSizes)-1 {
			return chunkPools[i].Get().(*[]byte)
		}
	}
	panic("unreachable")
}

func putChunk(b *[]byte) {
	for i, size := range chunkSizes {
		if len(*b) == size {
			chunkPools[i].Put(b)
			return
		}
	}
}

// SetDeadline sets the read and write deadlines
func (s *Stream) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	if err := s.SetWriteDeadline(t); err != nil {
		return err
	}
	return nil
}

// SetReadDeadline sets the deadline for blocked and future Read calls.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.readDeadline.Store(t)
	asyncNotify(s.recvNotifyCh)
	return nil
}

// SetWriteDeadline sets the deadline for blocked and future Write calls
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.writeDeadline.Store(t)
	asyncNotify(s.sendNotifyCh)
	return nil
}

// Shrink is used to compact the amount of buffers utilized
// This is useful when using Yamux in a connection pool to reduce
// the idle memory utilization.
func (s *Stream) Shrink() {
	s.recvLock.Lock()
	if s.recvLen == 0 {
		s.recvQ = nil
	}
	s.recvLock.Unlock()
}

// RemoteClosed reports whether the peer has closed its side of the stream
// (or reset it) and every byte it sent has been read. A connection pool
// uses it to drop an idle stream before reusing it (edgeway addition).
func (s *Stream) RemoteClosed() bool {
	s.stateLock.Lock()
	state := s.state
	s.stateLock.Unlock()
	switch state {
	case streamRemoteClose, streamClosed:
		s.recvLock.Lock()
		defer s.recvLock.Unlock()
		return s.recvLen == 0 && s.recvPending == 0
	case streamReset:
		return true
	}
	return false
}
