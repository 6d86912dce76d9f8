package proto

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
)

// StreamWindow is the yamux per-stream receive window. yamux's default of
// 256 KiB caps a stream at window/RTT; 8 MiB keeps bulk transfers fast on
// high-latency links while costing nothing for idle streams (yamux grows
// the buffer lazily).
const StreamWindow = 8 << 20

// KeepAliveInterval is how often yamux pings an idle session.
const KeepAliveInterval = 15 * time.Second

// MuxConfig returns the yamux configuration used on every Edgeway
// connection. yamux's own log lines go to log at debug level.
func MuxConfig(log *slog.Logger) *yamux.Config {
	return &yamux.Config{
		AcceptBacklog:          1024,
		EnableKeepAlive:        true,
		KeepAliveInterval:      KeepAliveInterval,
		ConnectionWriteTimeout: 15 * time.Second,
		MaxStreamWindowSize:    StreamWindow,
		StreamOpenTimeout:      30 * time.Second,
		StreamCloseTimeout:     30 * time.Second,
		Logger:                 slogPrinter{log: log},
	}
}

// Client starts the client side of a yamux session over conn.
func Client(conn io.ReadWriteCloser, log *slog.Logger) (*yamux.Session, error) {
	return yamux.Client(conn, MuxConfig(log))
}

// Server starts the server side of a yamux session over conn.
func Server(conn io.ReadWriteCloser, log *slog.Logger) (*yamux.Session, error) {
	return yamux.Server(conn, MuxConfig(log))
}

// slogPrinter adapts yamux's Printf-style logger to slog at debug level.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Print(v ...any) { p.emit(strings.TrimSpace(fmt.Sprint(v...))) }
func (p slogPrinter) Printf(format string, v ...any) {
	p.emit(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (p slogPrinter) Println(v ...any) { p.emit(strings.TrimSpace(fmt.Sprint(v...))) }

func (p slogPrinter) emit(msg string) {
	if p.log == nil {
		return
	}
	p.log.LogAttrs(context.Background(), slog.LevelDebug, msg, slog.String("component", "yamux"))
}
