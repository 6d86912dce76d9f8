package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stopTimeout is how long a child gets between SIGTERM and SIGKILL.
const stopTimeout = 10 * time.Second

// exitError reports a child that exited while the stack was running.
type exitError struct {
	name string
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return e.name + " exited unexpectedly (status 0)"
	}
	return fmt.Sprintf("%s exited unexpectedly: %v", e.name, e.err)
}

// proc is a long-running child process in its own process group.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out      *prefixWriter
	done     chan struct{}
	err      error // set before done is closed
	stopping atomic.Bool
}

// startProc starts a child whose output lines go to out prefixed with its name. When it exits
// before stop is called, onExit is called with an *exitError.
func startProc(name string, out *prefixWriter, env []string, onExit func(error), path string, args ...string) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 2 * time.Second // grandchildren holding the output pipe do not block Wait
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Flush()
		close(p.done)
		if !p.stopping.Load() {
			onExit(&exitError{name: name, err: p.err})
		}
	}()
	return p, nil
}

// childAttr puts a child in its own process group (a terminal's Ctrl-C reaches devstack only,
// which then stops the children in order) and sends it SIGTERM if devstack dies without
// stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// stop sends SIGTERM to the child's process group, waits, and sends SIGKILL after stopTimeout
// or as soon as force is closed.
func (p *proc) stop(force <-chan struct{}) error {
	p.stopping.Store(true)
	select {
	case <-p.done:
		return nil
	default:
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	case <-force:
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop on SIGTERM; killed", p.name)
}

// runOnce runs a short-lived child to completion; ctx ends it (SIGTERM to its group, then SIGKILL).
func runOnce(ctx context.Context, name string, out *prefixWriter, env []string, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	err := cmd.Run()
	out.Flush()
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%s %s: %w", name, args[0], err)
	}
	return nil
}

// output serializes the lines of every child onto one writer.
type output struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

// prefixWriter writes each line as "name | line" to the shared output.
type prefixWriter struct {
	o      *output
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

func (o *output) writer(name string) *prefixWriter {
	return &prefixWriter{o: o, prefix: fmt.Appendf(nil, "%-*s | ", o.width, name)}
}

// print writes s to the shared output without a prefix.
func (o *output) print(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	io.WriteString(o.w, s)
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line without newline: emit what we have
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
	return len(p), nil
}

// Flush writes a final line that has no newline.
func (w *prefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *prefixWriter) emit(line []byte) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	line = bytes.TrimRight(line, "\r\n")
	w.o.w.Write(append(append(append([]byte{}, w.prefix...), line...), '\n'))
}

// errIsExit reports whether err is a child's unexpected exit.
func errIsExit(err error) bool {
	var e *exitError
	return errors.As(err, &e)
}
