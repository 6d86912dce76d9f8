package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
)

// sampleView is a frame with every row filled in.
func sampleView() view {
	return view{
		Status:    "online",
		SessionID: "ts_01abcdefghijklmnopqrstuvwx",
		Authtoken: "ewt_Ab12...wxyz (from EDGEWAY_AUTHTOKEN)",
		Version:   "0.1.0",
		Region:    "eu",
		RegionHow: "auto, the lowest latency",
		Probes: []agent.ProbeResult{
			{Region: "eu", Latency: 412 * time.Microsecond},
			{Region: "us", Latency: 2130 * time.Microsecond},
			{Region: "ap", Err: errors.New("connection refused")},
		},
		Online: true,
		Tunnels: []agent.BoundTunnel{
			{Tunnel: agent.Tunnel{Proto: proto.ProtoHTTP, LocalAddr: "localhost:8080"},
				PublicURL: "http://app.eu.localhost:9010", HTTPSURL: "https://app.eu.localhost:9011"},
			{Tunnel: agent.Tunnel{Proto: proto.ProtoTCP, LocalAddr: "localhost:22"}, PublicURL: "tcp://eu.localhost:20105"},
		},
		Conns: agent.Stats{Total: 17, Open: 3, Latency: 1250 * time.Microsecond, OpenAvg1m: 2.5, OpenAvg5m: 0.75,
			Completed: 14, P50: 1500 * time.Millisecond, P90: 12340 * time.Millisecond},
	}
}

func TestRenderFullFrame(t *testing.T) {
	got := strings.Join(render(sampleView(), 100, 40), "\n")
	want := strings.Join([]string{
		"Edgeway Agent                                                                       (Ctrl+C to quit)",
		"",
		"Session Status                online",
		"Session                       ts_01abcdefghijklmnopqrstuvwx",
		"Authtoken                     ewt_Ab12...wxyz (from EDGEWAY_AUTHTOKEN)",
		"Version                       0.1.0",
		"Region                        Europe (Frankfurt) (eu)",
		"Region Choice                 auto, the lowest latency (eu 0.4 ms, us 2.1 ms, ap unreachable)",
		"Latency                       1.2 ms",
		"Forwarding                    https://app.eu.localhost:9011 -> http://localhost:8080",
		"Forwarding                    http://app.eu.localhost:9010 -> http://localhost:8080",
		"Forwarding                    tcp://eu.localhost:20105 -> localhost:22",
		"",
		"Connections                   ttl     opn     rt1     rt5     p50     p90",
		"                              17      3       2.50    0.75    1.50    12.34",
	}, "\n")
	if got != want {
		t.Fatalf("frame:\n%s\nwant:\n%s", got, want)
	}
}

func TestRenderStatesAndLog(t *testing.T) {
	rowOf := func(lines []string, label string) string {
		t.Helper()
		for _, l := range lines {
			if v, ok := strings.CutPrefix(l, label); ok && strings.HasPrefix(v, " ") {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %q row in:\n%s", label, strings.Join(lines, "\n"))
		return ""
	}
	v := sampleView()
	v.Conns.Latency = 0
	if got := rowOf(render(v, 100, 40), "Latency"); got != "measuring" {
		t.Errorf("online before the first heartbeat: Latency %q", got)
	}
	v.Online, v.Status = false, "reconnecting in 2.0s (connection to edge lost)"
	lines := render(v, 100, 40)
	if got := rowOf(lines, "Latency"); got != "-" {
		t.Errorf("offline: Latency %q", got)
	}
	if got := rowOf(lines, "Session Status"); got != "reconnecting in 2.0s (connection to edge lost)" {
		t.Errorf("Session Status %q", got)
	}
	v.RegionHow, v.Probes = "fixed by --region", nil
	v.Log = []string{"12:00:01 WARN first", "12:00:02 WARN second"}
	lines = render(v, 100, 40)
	if got := rowOf(lines, "Region Choice"); got != "fixed by --region" {
		t.Errorf("Region Choice %q", got)
	}
	if got := rowOf(lines, "Log"); got != "12:00:01 WARN first" || !strings.Contains(lines[len(lines)-1], "12:00:02 WARN second") {
		t.Errorf("log rows:\n%s", strings.Join(lines, "\n"))
	}
}

func TestRenderFitsTheTerminal(t *testing.T) {
	lines := render(sampleView(), 50, 9)
	if len(lines) != 9 {
		t.Fatalf("%d lines for a 9-row terminal:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 50 {
			t.Errorf("line of %d columns on a 50-column terminal: %q", n, l)
		}
	}
	// Narrow terminals get a narrower label column; the hint stays right-aligned.
	if lines[0] != "Edgeway Agent                     (Ctrl+C to quit)" || lines[2] != "Session Status    online" {
		t.Fatalf("narrow layout:\n%s", strings.Join(lines, "\n"))
	}
	if got := lines[7]; got != "Region Choice     auto, the lowest latency (eu 0.4" {
		t.Fatalf("cut line %q", got)
	}
}

func TestSnapshotStatus(t *testing.T) {
	u := newStatusUI(io.Discard, true, -1)
	u.setAuthtoken("ewt_Ab12cdefghijklmnopqrstuvwxyz", "--authtoken")
	now := time.Now()
	if v := u.snapshot(now); v.Status != "connecting" || v.Authtoken != "ewt_Ab12...wxyz (from --authtoken)" || v.Online {
		t.Fatalf("before connecting: %+v", v)
	}
	u.event(agent.Event{Type: agent.EventReconnecting, Err: errors.New("connect to edge 127.0.0.1:1: connection refused"), Delay: 1500 * time.Millisecond})
	if v := u.snapshot(now); !strings.HasPrefix(v.Status, "reconnecting in 1.") || !strings.HasSuffix(v.Status, "s (connect to edge 127.0.0.1:1: connection refused)") {
		t.Fatalf("reconnecting: %q", v.Status)
	}
	if v := u.snapshot(now.Add(2 * time.Second)); v.Status != "reconnecting now (connect to edge 127.0.0.1:1: connection refused)" {
		t.Fatalf("after the delay: %q", v.Status)
	}
	u.event(agent.Event{Type: agent.EventDisconnected})
	if v := u.snapshot(now); v.Status != "stopped" {
		t.Fatalf("after a clean end: %q", v.Status)
	}
	// Logs go to the view while it is up, trimmed to the last rows.
	w := u.logWriter(io.Discard)
	for i := 0; i < 6; i++ {
		_, _ = io.WriteString(w, "time=12:00:0"+strconv.Itoa(i)+" level=WARN msg=\"agent reconnecting\" n="+strconv.Itoa(i)+"\n")
	}
	if v := u.snapshot(now); len(v.Log) != logRows || v.Log[logRows-1] != `12:00:05 WARN "agent reconnecting" n=5` {
		t.Fatalf("log rows %q", v.Log)
	}
}

func TestMaskTokenAndProbes(t *testing.T) {
	if got := maskToken("ewt_0123456789abcdefghijkl"); got != "ewt_0123...ijkl" {
		t.Errorf("mask %q", got)
	}
	if got := maskToken("tok"); got != "***" {
		t.Errorf("short token shown as %q", got)
	}
	if got := fmtProbes([]agent.ProbeResult{{Region: "us", Latency: 2100 * time.Microsecond}, {Region: "jp", Err: errors.New("x")}}); got != "us 2.1 ms, jp unreachable" {
		t.Errorf("probes %q", got)
	}
}

// lastFrame returns the rows of the last complete frame the full view
// wrote to out, or nil.
func lastFrame(out string) []string {
	i := strings.LastIndex(out, frameEnd)
	if i < 0 {
		return nil
	}
	start := strings.LastIndex(out[:i], frameStart)
	if start < 0 {
		return nil
	}
	body := strings.ReplaceAll(out[start+len(frameStart):i], lineEnd, "")
	return strings.Split(strings.ReplaceAll(body, "\r", ""), "\n")
}

var (
	connRowRe = regexp.MustCompile(`^\s+(\d+)\s+(\d+)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)$`)
	latencyRe = regexp.MustCompile(`^Latency\s+(\d+\.\d) ms$`)
)

// frameFacts reads ttl and the Latency row out of a frame.
func frameFacts(frame []string) (ttl string, latency string) {
	for i, l := range frame {
		if m := latencyRe.FindStringSubmatch(l); m != nil {
			latency = m[1]
		}
		if strings.HasPrefix(l, "Connections ") && i+1 < len(frame) {
			if m := connRowRe.FindStringSubmatch(frame[i+1]); m != nil {
				ttl = m[1]
			}
		}
	}
	return ttl, latency
}

// TestFullViewIsLive runs the command with --status full against an
// in-process edge: the redrawn frames show the session, the region, the
// forwarding line and, after a connection through the tunnel, ttl 1 and a
// measured latency; quitting restores the cursor and the screen.
func TestFullViewIsLive(t *testing.T) {
	srv := startEdge(t, "eu", 0)
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello"))
	}))
	defer local.Close()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"http", local.Listener.Addr().String(), "--domain", "live", "--plaintext", "--status", "full",
			"--region", "eu", "--edges", "eu=" + srv.AgentAddr().String()},
			func(k string) string {
				return map[string]string{"EDGEWAY_AUTHTOKEN": "tok", "EDGEWAY_CONFIG": filepath.Join(dir, "none.yml")}[k]
			}, &stdout, &stderr)
	}()
	waitFrame := func(what string, ok func([]string) bool) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if f := lastFrame(stdout.String()); f != nil && ok(f) {
				return f
			}
			if time.Now().After(deadline) {
				t.Fatalf("no frame %s; last:\n%s\nstderr:\n%s", what, strings.Join(lastFrame(stdout.String()), "\n"), stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	frame := waitFrame("with a forwarding line", func(f []string) bool {
		return strings.Contains(strings.Join(f, "\n"), "Forwarding                    http://live.eu.localhost:")
	})
	joined := strings.Join(frame, "\n")
	for _, want := range []string{"Session Status                online", "Region                        Europe (Frankfurt) (eu)",
		"Region Choice                 fixed by --region", "Authtoken                     *** (from EDGEWAY_AUTHTOKEN)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("frame lacks %q:\n%s", want, joined)
		}
	}
	if !strings.HasPrefix(stdout.String(), enterScreen) {
		t.Fatalf("the view did not start with the alternate screen and a hidden cursor: %q", stdout.String()[:min(40, len(stdout.String()))])
	}

	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+"/", nil)
	req.Host = "live.eu.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	waitFrame("with ttl 1 and a latency", func(f []string) bool {
		ttl, latency := frameFacts(f)
		return ttl == "1" && latency != ""
	})

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if i := strings.LastIndex(out, leaveScreen); i < 0 || !strings.Contains(out[i:], "Session Status    stopped\n") {
		t.Fatalf("the cursor and screen were not restored before the last line: %q", out[max(0, len(out)-120):])
	}
}
