package proto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// HeaderSize is the size of a frame header: a big-endian uint16 type and a
// big-endian uint32 body length.
const HeaderSize = 6

// MaxBodySize is the default limit on a frame body. Frames are control
// messages only (bulk data travels raw after a proxy header), so 64 KiB is
// generous.
const MaxBodySize = 64 << 10

// Frame is one decoded frame.
type Frame struct {
	Type Type
	// Body is the JSON body, possibly empty.
	Body []byte
}

// ReadFrame reads one frame from r. It returns io.EOF only when r ends
// cleanly before the first header byte; a frame cut short, a zero type or
// a body longer than maxBody (MaxBodySize if maxBody <= 0) is an *Error
// with CodeBadFrame or CodeFrameTooLarge. ReadFrame never reads past the
// end of the frame, so raw bytes may follow it on the same reader.
func ReadFrame(r io.Reader, maxBody int) (Frame, error) {
	if maxBody <= 0 {
		maxBody = MaxBodySize
	}
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, Errorf(CodeBadFrame, "frame header cut short")
		}
		return Frame{}, err
	}
	t := Type(binary.BigEndian.Uint16(hdr[0:2]))
	n := binary.BigEndian.Uint32(hdr[2:6])
	if t == 0 {
		return Frame{}, Errorf(CodeBadFrame, "frame type 0 is invalid")
	}
	if uint64(n) > uint64(maxBody) {
		return Frame{}, Errorf(CodeFrameTooLarge, "frame body of %d bytes exceeds the limit of %d", n, maxBody)
	}
	f := Frame{Type: t}
	if n == 0 {
		return f, nil
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(r, f.Body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return Frame{}, Errorf(CodeBadFrame, "frame body cut short")
		}
		return Frame{}, err
	}
	return f, nil
}

// AppendFrame appends the encoding of a frame with the given type and raw
// body to dst.
func AppendFrame(dst []byte, t Type, body []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(t))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// WriteFrame writes one frame whose body is v encoded as JSON, in a single
// Write call so concurrent writers serialised by a lock never interleave.
func WriteFrame(w io.Writer, t Type, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", t, err)
	}
	if len(body) > MaxBodySize {
		return Errorf(CodeFrameTooLarge, "%s frame body of %d bytes exceeds the limit of %d", t, len(body), MaxBodySize)
	}
	buf := make([]byte, 0, HeaderSize+len(body))
	_, err = w.Write(AppendFrame(buf, t, body))
	return err
}

// WriteError writes err as a TypeError frame (see toWire).
func WriteError(w io.Writer, err error) error {
	return WriteFrame(w, TypeError, toWire(err))
}

// Decode decodes f's JSON body into v. A TypeError frame decodes into an
// *Error that Decode returns; an empty body leaves v untouched.
func (f Frame) Decode(v any) error {
	if f.Type == TypeError {
		e := &Error{}
		if err := json.Unmarshal(f.Body, e); err != nil || e.Code == "" {
			return Errorf(CodeBadFrame, "undecodable error frame")
		}
		return e
	}
	if len(f.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(f.Body, v); err != nil {
		return Errorf(CodeBadFrame, "decode %s body: %v", f.Type, err)
	}
	return nil
}

// Expect decodes f into v when f has type t, returns the *Error carried by
// a TypeError frame, and fails with CodeBadFrame for any other type.
func (f Frame) Expect(t Type, v any) error {
	if f.Type != t && f.Type != TypeError {
		return Errorf(CodeBadFrame, "got a %s frame, want %s", f.Type, t)
	}
	return f.Decode(v)
}
