package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
)

// The agent's full status view draws frames as: cursor home, rows ending in "clear to end of
// line", then "clear the rest of the screen".
const (
	frameStart = "\x1b[H"
	frameEnd   = "\x1b[K\x1b[J"
	showCursor = "\x1b[?25h"
	hideCursor = "\x1b[?25l"
	mainScreen = "\x1b[?1049l"
)

var (
	latencyRowRe = regexp.MustCompile(`^Latency\s+(\d+\.\d ms)$`)
	connRowRe    = regexp.MustCompile(`^\s+(\d+)\s+(\d+)\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d$`)
	regionRowRe  = regexp.MustCompile(`^Region Choice\s+auto, the lowest latency \(((?:us|eu) \d+\.\d ms), ((?:us|eu) \d+\.\d ms)\)$`)
)

// ptyOutput collects what a process writes to its terminal.
type ptyOutput struct {
	mu   sync.Mutex
	b    strings.Builder
	done chan struct{}
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// ptyAgent is bin/agent running in a pseudo terminal.
type ptyAgent struct {
	ptmx   *os.File
	out    *ptyOutput
	exited chan error // receives cmd.Wait's result once; put it back after reading
}

// startPTYAgent starts bin/agent with args (plus the stack's edges, CA and a fresh config path)
// in a terminal of cols x 30 with TERM set, as a user would run it.
func startPTYAgent(t *testing.T, token string, cols uint16, args ...string) *ptyAgent {
	t.Helper()
	args = append(args, "--authtoken", token, "--edges", edgesFlag(), "--ca", stack.CAFile,
		"--config", filepath.Join(t.TempDir(), "agent.yml"))
	cmd := exec.Command(filepath.Join(binDir, "agent"), args...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "EDGEWAY_STATUS=")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	a := &ptyAgent{ptmx: ptmx, out: &ptyOutput{done: make(chan struct{})}, exited: make(chan error, 1)}
	go func() {
		defer close(a.out.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := ptmx.Read(buf)
			a.out.mu.Lock()
			a.out.b.Write(buf[:n])
			a.out.mu.Unlock()
			if err != nil {
				return // EIO once the agent has exited
			}
		}
	}()
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-a.exited
		a.exited <- err
		ptmx.Close()
		if t.Failed() {
			t.Logf("terminal output (%d bytes), last frame:\n%s\ntail: %q", len(a.out.String()),
				strings.Join(lastFrame(a.out.String()), "\n"), tailBytes(a.out.String(), 400))
		}
	})
	return a
}

// wait waits for the agent to exit and for its terminal output to end, and returns Wait's error.
func (a *ptyAgent) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	var err error
	select {
	case err = <-a.exited:
		a.exited <- err
	case <-time.After(within):
		t.Fatalf("the agent did not exit within %s", within)
	}
	select {
	case <-a.out.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal output did not end")
	}
	return err
}

func tailBytes(s string, n int) string { return s[max(0, len(s)-n):] }

// lastFrame returns the rows of the last complete frame in out.
func lastFrame(out string) []string {
	end := strings.LastIndex(out, frameEnd)
	if end < 0 {
		return nil
	}
	start := strings.LastIndex(out[:end], frameStart)
	if start < 0 {
		return nil
	}
	body := strings.ReplaceAll(out[start+len(frameStart):end], "\x1b[K", "")
	return strings.Split(strings.ReplaceAll(body, "\r", ""), "\n")
}

// TestAgentStatusViewInATerminal runs bin/agent in a pseudo terminal against the stack's edges:
// it draws the full status view (region auto with both regions' probe latencies, forwarding
// lines), redraws it live (a connection through the tunnel shows as ttl 1, the heartbeat
// latency appears), fits it to the terminal when the window shrinks, and on Ctrl+C restores
// the cursor and the screen and exits 0.
func TestAgentStatusViewInATerminal(t *testing.T) {
	acct := newAccount(t)
	_, token := acct.authtoken()
	port := localServer(t, "from the terminal agent")
	ag := startPTYAgent(t, token, 110, "http", port)
	ptmx, out, exited := ag.ptmx, ag.out, ag.exited

	waitFrame := func(what string, ok func(rows []string) bool) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if rows := lastFrame(out.String()); rows != nil && ok(rows) {
				return rows
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the agent exited (%v) before a frame %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no frame %s within 20s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	row := func(rows []string, re *regexp.Regexp) []string {
		for _, r := range rows {
			if m := re.FindStringSubmatch(r); m != nil {
				return m
			}
		}
		return nil
	}

	start := time.Now()
	var publicURL string
	rows := waitFrame("online with a forwarding line", func(rows []string) bool {
		m := row(rows, regexp.MustCompile(`^Forwarding\s+(http://\S+) -> http://localhost:`+port+`$`))
		if m != nil {
			publicURL = m[1]
		}
		return m != nil && row(rows, regexp.MustCompile(`^Session Status\s+online$`)) != nil
	})
	if !strings.HasPrefix(rows[0], "Edgeway Agent ") || !strings.HasSuffix(rows[0], "(Ctrl+C to quit)") || utf8.RuneCountInString(rows[0]) != 110 {
		t.Errorf("title row %q", rows[0])
	}
	if m := row(rows, regionRowRe); m == nil || m[1][:2] == m[2][:2] {
		t.Errorf("the region row does not show both regions' probe latencies:\n%s", strings.Join(rows, "\n"))
	}
	if row(rows, regexp.MustCompile(`^Session\s+ts_[0-9a-z]+$`)) == nil || row(rows, regexp.MustCompile(`^Region\s+(United States \(Ohio\) \(us\)|Europe \(Frankfurt\) \(eu\))$`)) == nil {
		t.Errorf("session or region row missing:\n%s", strings.Join(rows, "\n"))
	}
	if !strings.Contains(out.String(), hideCursor) {
		t.Error("the cursor was not hidden")
	}
	t.Logf("online after %s:\n%s", time.Since(start).Round(time.Millisecond), strings.Join(rows, "\n"))

	status, body := through(t, publicURL)
	if status != 200 || !strings.HasPrefix(body, "from the terminal agent") {
		t.Fatalf("through the tunnel: %d %q", status, body)
	}
	rows = waitFrame("with ttl 1 and a measured latency", func(rows []string) bool {
		for i, r := range rows {
			if strings.HasPrefix(r, "Connections ") && i+1 < len(rows) {
				m := connRowRe.FindStringSubmatch(rows[i+1])
				return m != nil && m[1] == "1" && row(rows, latencyRowRe) != nil
			}
		}
		return false
	})
	t.Logf("after one connection:\n%s", strings.Join(rows, "\n"))

	// A narrower window (SIGWINCH): every row fits and the label column narrows.
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 60}); err != nil {
		t.Fatal(err)
	}
	waitFrame("fitted to 60 columns", func(rows []string) bool {
		for _, r := range rows {
			if utf8.RuneCountInString(r) > 60 {
				return false
			}
		}
		return rows[0] == "Edgeway Agent                               (Ctrl+C to quit)" &&
			row(rows, regexp.MustCompile(`^Session Status    online$`)) != nil
	})

	// Ctrl+C, as a user would type it: the terminal sends SIGINT.
	if _, err := ptmx.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := ag.wait(t, 10*time.Second); err != nil {
		t.Fatalf("exit after Ctrl+C: %v", err)
	}
	final := out.String()
	// The terminal echoes the Ctrl+C as "^C" where the cursor is, possibly after the last frame.
	tail := strings.TrimPrefix(final[strings.LastIndex(final, frameEnd)+len(frameEnd):], "^C")
	if !strings.HasPrefix(tail, showCursor+mainScreen) {
		t.Fatalf("after the last frame: %q, want the cursor shown and the main screen back", tail)
	}
	if !strings.Contains(tail, "Session Status    stopped") {
		t.Fatalf("no final status line after the view: %q", tail)
	}
}
