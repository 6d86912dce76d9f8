package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/region"
)

// The status view modes (--status).
const (
	statusAuto  = "auto"  // full when stdout is a terminal, else plain
	statusFull  = "full"  // a screen redrawn in place
	statusPlain = "plain" // log-style "Label   value" lines
)

// statusEvery is how often the plain view checks the session counters
// (tests shorten it).
var statusEvery = 2 * time.Second

// redrawEvery is how often the full view is redrawn.
const redrawEvery = time.Second

// logRows is how many recent log lines the full view shows.
const logRows = 4

// ANSI sequences of the full view.
const (
	enterScreen = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J" // alternate screen, hide the cursor, clear
	leaveScreen = "\x1b[?25h\x1b[?1049l"              // show the cursor, back to the normal screen
	frameStart  = "\x1b[H"                            // cursor home
	lineEnd     = "\x1b[K"                            // clear to the end of the line
	frameEnd    = "\x1b[K\x1b[J"                      // clear the rest of the line and of the screen
)

// statusUI shows the agent's status: in plain mode as aligned "Label
// value" lines printed as things happen, in full mode as a screen redrawn
// in place about once a second (and at once on every change), like a
// mature tunnel agent's console.
type statusUI struct {
	out   io.Writer
	every time.Duration // plain: how often to check the counters; 0 means statusEvery
	full  bool
	fd    int // the terminal's file descriptor (full mode), or -1

	mu     sync.Mutex
	closed bool // the full view was torn down; lines print plainly
	// What the full view shows.
	authtoken    string
	sess         *agent.Session // the live session, nil while offline
	sessionID    string
	tunnels      []agent.BoundTunnel
	last         agent.Stats // counters of the session that ended
	offline      string      // why the agent is offline, "" when it never connected
	reconnectAt  time.Time   // when the next attempt starts, zero when none is planned
	regionCode   region.Code
	regionHow    string // how the region was chosen
	probes       []agent.ProbeResult
	logs         []string
	started      bool
	wake, quit   chan struct{}
	loopFinished chan struct{}
}

// newStatusUI returns a plain view on out, or a full one when full is set
// (fd is out's terminal, for its size; -1 when out is not one).
func newStatusUI(out io.Writer, full bool, fd int) *statusUI {
	return &statusUI{out: out, every: statusEvery, full: full, fd: fd,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), loopFinished: make(chan struct{})}
}

// terminalFD returns w's file descriptor when w is a terminal.
func terminalFD(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return -1, false
	}
	return int(f.Fd()), true
}

// start draws the full view and keeps redrawing it until close.
func (u *statusUI) start() {
	if !u.full {
		return
	}
	u.mu.Lock()
	u.started = true
	_, _ = io.WriteString(u.out, enterScreen)
	u.mu.Unlock()
	go u.loop()
}

// close tears the full view down (the cursor and the normal screen come
// back); later lines print plainly.
func (u *statusUI) close() {
	u.mu.Lock()
	if !u.started || u.closed {
		u.closed = true
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	close(u.quit)
	<-u.loopFinished
	u.mu.Lock()
	u.closed = true
	_, _ = io.WriteString(u.out, leaveScreen)
	u.mu.Unlock()
}

func (u *statusUI) loop() {
	defer close(u.loopFinished)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	t := time.NewTicker(redrawEvery)
	defer t.Stop()
	for {
		u.draw()
		select {
		case <-u.quit:
			return
		case <-t.C:
		case <-u.wake:
		case <-winch:
		}
	}
}

// poke asks the full view for a redraw now.
func (u *statusUI) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *statusUI) draw() {
	w, h := 80, 24
	if u.fd >= 0 {
		if tw, th, err := term.GetSize(u.fd); err == nil && tw > 0 && th > 0 {
			w, h = tw, th
		}
	}
	lines := render(u.snapshot(time.Now()), w, h)
	u.mu.Lock()
	defer u.mu.Unlock()
	_, _ = io.WriteString(u.out, frameStart+strings.Join(lines, lineEnd+"\r\n")+frameEnd)
}

// plain reports whether lines print (plain mode, or the full view is gone).
// The caller holds u.mu.
func (u *statusUI) plain() bool { return !u.full || u.closed }

// line prints "Label   value" in plain mode (and after the full view is
// torn down); the full view shows the same information in its rows.
func (u *statusUI) line(label, value string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.plain() {
		fmt.Fprintf(u.out, "%-18s%s\n", label, value)
	}
}

// setAuthtoken records the authtoken (shown masked) and where it came from.
func (u *statusUI) setAuthtoken(token, from string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.authtoken = maskToken(token)
	if from != "" {
		u.authtoken += " (from " + from + ")"
	}
}

// regionChosen records the region about to be dialed (code is empty when
// only the edge's address is known), how it was chosen, and the probes
// measured to choose it, if any.
func (u *statusUI) regionChosen(code region.Code, how string, probes []agent.ProbeResult) {
	u.mu.Lock()
	if code != "" {
		u.regionCode = code
	}
	u.regionHow, u.probes = how, probes
	u.mu.Unlock()
	u.poke()
}

// watch prints a "Connections" line whenever the session's counters
// changed, at most every few seconds, and a "Latency" line once the first
// heartbeat round trip is measured, until the session ends (plain mode).
func (u *statusUI) watch(s *agent.Session) {
	every := u.every
	if every == 0 {
		every = statusEvery
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var last agent.Stats
		latencyShown := false
		for {
			select {
			case <-s.Done():
				return
			case <-t.C:
			}
			st := s.Stats()
			if !latencyShown && st.Latency > 0 {
				u.line("Latency", fmtLatency(st.Latency)+" (heartbeat round trip to the edge)")
				latencyShown = true
			}
			if st.Total != last.Total || st.Open != last.Open {
				u.line("Connections", fmt.Sprintf("total %d, open %d, edge latency %s", st.Total, st.Open, fmtLatency(st.Latency)))
				last = st
			}
		}
	}()
}

// event follows the agent's connection state.
func (u *statusUI) event(e agent.Event) {
	u.mu.Lock()
	switch e.Type {
	case agent.EventConnected:
		s := e.Session
		u.sess, u.sessionID, u.tunnels = s, s.ID(), s.Tunnels()
		u.regionCode = region.Code(s.Region())
		u.offline, u.reconnectAt = "", time.Time{}
	case agent.EventDisconnected:
		if e.Session != nil && e.Session == u.sess {
			u.last = e.Session.Stats()
			u.sess = nil
		}
		u.offline, u.reconnectAt = "stopped", time.Time{}
		if e.Err != nil {
			u.offline = e.Err.Error()
		}
	case agent.EventReconnecting:
		u.sess = nil
		if e.Err != nil {
			u.offline = e.Err.Error()
		}
		u.reconnectAt = time.Now().Add(e.Delay)
	}
	plain := u.plain()
	u.mu.Unlock()
	if !plain {
		u.poke()
		return
	}
	switch e.Type {
	case agent.EventConnected:
		s := e.Session
		u.watch(s)
		code := region.Code(s.Region())
		u.line("Session Status", "online")
		u.line("Session", s.ID())
		u.line("Region", fmt.Sprintf("%s (%s)", code.Name(), code))
		for _, t := range s.Tunnels() {
			for _, f := range forwarding(t) {
				u.line("Forwarding", f)
			}
		}
	case agent.EventDisconnected:
		if e.Err != nil {
			u.line("Session Status", "offline: "+e.Err.Error())
		}
	case agent.EventReconnecting:
		u.line("Session Status", fmt.Sprintf("reconnecting in %s", e.Delay.Round(10*time.Millisecond)))
	}
}

// logWriter returns where the agent's logs go: the full view's log rows
// while it is up, w otherwise.
func (u *statusUI) logWriter(w io.Writer) io.Writer { return viewLog{u: u, fallback: w} }

type viewLog struct {
	u        *statusUI
	fallback io.Writer
}

func (l viewLog) Write(p []byte) (int, error) {
	u := l.u
	u.mu.Lock()
	if u.plain() {
		u.mu.Unlock()
		return l.fallback.Write(p)
	}
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		// "time=12:05:16 level=WARN msg=..." reads "12:05:16 WARN ..." in the view.
		l := strings.TrimPrefix(string(line), "time=")
		l = strings.Replace(strings.Replace(l, " level=", " ", 1), " msg=", " ", 1)
		u.logs = append(u.logs, l)
	}
	if len(u.logs) > logRows {
		u.logs = slices.Clone(u.logs[len(u.logs)-logRows:])
	}
	u.mu.Unlock()
	u.poke()
	return len(p), nil
}

// snapshot gathers what the full view shows now, the counters read live
// from the session.
func (u *statusUI) snapshot(now time.Time) view {
	u.mu.Lock()
	defer u.mu.Unlock()
	v := view{
		Status:    "connecting",
		SessionID: u.sessionID,
		Authtoken: u.authtoken,
		Version:   agent.Version,
		Region:    u.regionCode,
		RegionHow: u.regionHow,
		Probes:    u.probes,
		Tunnels:   u.tunnels,
		Conns:     u.last,
		Log:       slices.Clone(u.logs),
	}
	switch {
	case u.sess != nil:
		v.Status, v.Online = "online", true
		v.Conns = u.sess.Stats()
	case !u.reconnectAt.IsZero() && now.Before(u.reconnectAt):
		v.Status = fmt.Sprintf("reconnecting in %.1fs (%s)", u.reconnectAt.Sub(now).Seconds(), u.offline)
	case !u.reconnectAt.IsZero():
		v.Status = "reconnecting now (" + u.offline + ")"
	case u.offline == "stopped":
		v.Status = "stopped"
	case u.offline != "":
		v.Status = "offline: " + u.offline
	}
	return v
}

// view is one frame of the full status view.
type view struct {
	// Status is the session status: online, reconnecting in Xs, offline.
	Status    string
	SessionID string
	// Authtoken is the masked authtoken and where it came from.
	Authtoken string
	Version   string
	// Region is the session's (or the chosen) region, RegionHow how it was
	// chosen ("auto, the lowest latency", "fixed by --region"), Probes the
	// latencies measured to choose it.
	Region    region.Code
	RegionHow string
	Probes    []agent.ProbeResult
	// Online is set while a session is up; Conns.Latency is then live.
	Online  bool
	Tunnels []agent.BoundTunnel
	Conns   agent.Stats
	// Log is the last few log lines.
	Log []string
}

// labelWidth is the width of the label column: 30 like the agent consoles
// it imitates, narrower on narrow terminals.
func labelWidth(width int) int {
	if width < 80 {
		return 18
	}
	return 30
}

// render lays a frame out for a terminal of width columns and height rows:
// every line is cut to the width and lines beyond the height are dropped.
func render(v view, width, height int) []string {
	lw := labelWidth(width)
	var lines []string
	row := func(label, value string) { lines = append(lines, fmt.Sprintf("%-*s%s", lw, label, value)) }

	title, hint := "Edgeway Agent", "(Ctrl+C to quit)"
	lines = append(lines, title+strings.Repeat(" ", max(1, width-len(title)-len(hint)))+hint, "")
	row("Session Status", v.Status)
	if v.SessionID != "" {
		row("Session", v.SessionID)
	}
	if v.Authtoken != "" {
		row("Authtoken", v.Authtoken)
	}
	row("Version", v.Version)
	reg := "-"
	if v.Region != "" {
		reg = fmt.Sprintf("%s (%s)", v.Region.Name(), v.Region)
	}
	row("Region", reg)
	if how := v.RegionHow; how != "" {
		if len(v.Probes) > 0 {
			how += " (" + fmtProbes(v.Probes) + ")"
		}
		row("Region Choice", how)
	}
	latency := "-"
	if v.Online {
		latency = "measuring"
		if v.Conns.Latency > 0 {
			latency = fmtLatency(v.Conns.Latency)
		}
	}
	row("Latency", latency)
	for _, t := range v.Tunnels {
		for _, f := range forwarding(t) {
			row("Forwarding", f)
		}
	}
	lines = append(lines, "")
	c := v.Conns
	row("Connections", fmt.Sprintf("%-8s%-8s%-8s%-8s%-8s%s", "ttl", "opn", "rt1", "rt5", "p50", "p90"))
	row("", fmt.Sprintf("%-8d%-8d%-8.2f%-8.2f%-8.2f%.2f", c.Total, c.Open, c.OpenAvg1m, c.OpenAvg5m, c.P50.Seconds(), c.P90.Seconds()))
	if len(v.Log) > 0 {
		lines = append(lines, "")
		for i, l := range v.Log {
			label := ""
			if i == 0 {
				label = "Log"
			}
			row(label, l)
		}
	}
	if height > 0 && len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	return lines
}

// forwarding returns a tunnel's "URL -> local" lines, HTTPS first.
func forwarding(t agent.BoundTunnel) []string {
	var out []string
	if t.HTTPSURL != "" {
		out = append(out, t.HTTPSURL+" -> "+t.ForwardsTo())
	}
	return append(out, t.PublicURL+" -> "+t.ForwardsTo())
}

// truncate cuts s to width runes (terminal columns for the text we show).
func truncate(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width])
}

// fmtProbes lists probe results, fastest first: "eu 0.4 ms, us 2.1 ms, ap unreachable".
func fmtProbes(rs []agent.ProbeResult) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.Err != nil {
			parts = append(parts, string(r.Region)+" unreachable")
			continue
		}
		parts = append(parts, string(r.Region)+" "+fmtLatency(r.Latency))
	}
	return strings.Join(parts, ", ")
}

// maskToken shows enough of an authtoken to tell tokens apart, not to use one.
func maskToken(tok string) string {
	if len(tok) < 20 {
		return strings.Repeat("*", min(len(tok), 8))
	}
	return tok[:8] + "..." + tok[len(tok)-4:]
}

func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
