package proto

import (
	"io"
	"net"

	"github.com/hashicorp/yamux"
)

// AckedStream is a proxy stream opened by the edge: the agent answers it
// with a TypeProxy acknowledgement, or a TypeError frame when it cannot
// reach the local service. The first Read (or WriteTo) consumes that
// answer, turning a refusal into a *Error.
type AckedStream struct {
	*yamux.Stream
	acked bool
}

// NewAckedStream wraps a stream whose proxy header was just written.
func NewAckedStream(s *yamux.Stream) *AckedStream { return &AckedStream{Stream: s} }

func (a *AckedStream) ack() error {
	if a.acked {
		return nil
	}
	f, err := ReadFrame(a.Stream, 0)
	if err != nil {
		return err
	}
	switch f.Type {
	case TypeProxy:
		a.acked = true
		return nil
	case TypeError:
		return f.Decode(nil)
	default:
		return Errorf(CodeBadFrame, "unexpected %s frame on a proxy stream", f.Type)
	}
}

// Read reads the agent's data after its acknowledgement.
func (a *AckedStream) Read(p []byte) (int, error) {
	if err := a.ack(); err != nil {
		return 0, err
	}
	return a.Stream.Read(p)
}

// WriteTo writes the agent's data after its acknowledgement to w, without
// a copy through a buffer (yamux.Stream.WriteTo).
func (a *AckedStream) WriteTo(w io.Writer) (int64, error) {
	if err := a.ack(); err != nil {
		return 0, err
	}
	return a.Stream.WriteTo(w)
}

var _ net.Conn = (*AckedStream)(nil)
