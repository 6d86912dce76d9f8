package edge

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
)

// flakyListener fails with the errors in errs, then hands out conn, then
// reports itself closed.
type flakyListener struct {
	errs []error
	conn net.Conn
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	return nil, net.ErrClosed
}
func (l *flakyListener) Close() error   { return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestAcceptWaitsOutFailures: running out of descriptors does not end an
// accept loop (agents, HTTP visitors, TCP endpoints); a closed listener
// does.
func TestAcceptWaitsOutFailures(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	ln := &flakyListener{errs: []error{emfile, emfile}, conn: a}
	c, err := s.accept(ln, "test")
	if err != nil || c != a {
		t.Fatalf("accept after two EMFILE failures = %v, %v; want the connection", c, err)
	}
	if _, err := s.accept(ln, "test"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept on a closed listener = %v, want net.ErrClosed", err)
	}
}
