// Command tunnelbench compares bulk TCP throughput, HTTP requests per second
// at saturation and HTTP added latency at a fixed rate through three paths,
// all over loopback with separate processes, in one run:
//
//   - direct: this process -> sink process,
//   - edgeway: this process -> bin/edge -> bin/agent -> sink process,
//   - frp: this process -> frps -> frpc -> sink process (v0.68.1, default tcp_mux).
//
// It prints a table with the ratios measured in the run and the targets of
// issue 3 (PASS/MISS). frps and frpc are looked up in .tools/bin (make frp);
// when missing the frp rows are skipped. Every loop is bounded in count and
// time; every child runs in its own process group and is stopped at the end,
// also on Ctrl-C or when the overall -timeout expires.
//
// Run from the repository root: make bench-tunnel, or bin/tunnelbench -h.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const token = "tunnelbench-token"

type options struct {
	edgeBin, agentBin, frpsBin, frpcBin string
	total                               int64
	streams                             int
	tcpLimit                            time.Duration
	conc                                int
	satDur                              time.Duration
	rate                                int
	latDur                              time.Duration
	frpTLS                              bool
	timeout                             time.Duration
	keepLogs                            bool
	// A/B latency mode (ab.go)
	abEdge, abAgent string
	ab              bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-sink" {
		os.Exit(runSink(os.Args[2:]))
	}
	var o options
	fs := flag.NewFlagSet("tunnelbench", flag.ExitOnError)
	fs.StringVar(&o.edgeBin, "edge", "bin/edge", "edge binary")
	fs.StringVar(&o.agentBin, "agent", "bin/agent", "agent binary")
	fs.StringVar(&o.frpsBin, "frps", ".tools/bin/frps", "frps binary (v0.68.1; make frp)")
	fs.StringVar(&o.frpcBin, "frpc", ".tools/bin/frpc", "frpc binary (v0.68.1; make frp)")
	totalMiB := fs.Int64("tcp-mib", 1024, "bulk TCP bytes per path, MiB (split over -streams)")
	fs.IntVar(&o.streams, "streams", 4, "parallel TCP streams")
	fs.DurationVar(&o.tcpLimit, "tcp-limit", 60*time.Second, "time limit of one bulk TCP run")
	fs.IntVar(&o.conc, "conc", 32, "HTTP concurrency at saturation")
	fs.DurationVar(&o.satDur, "sat-dur", 5*time.Second, "HTTP saturation duration")
	fs.IntVar(&o.rate, "rate", 1000, "fixed HTTP request rate for latency, req/s")
	fs.DurationVar(&o.latDur, "lat-dur", 5*time.Second, "fixed-rate latency duration")
	fs.BoolVar(&o.frpTLS, "frp-tls", false, "keep frp's default TLS between frpc and frps (edgeway runs plain, so default off)")
	fs.DurationVar(&o.timeout, "timeout", 6*time.Minute, "overall time limit; children are stopped when it expires")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the child logs directory")
	fs.BoolVar(&o.ab, "ab", false, "latency-only A/B mode: HTTP at -rate through edgeway's HTTP tunnel and through a TCP tunnel, for -edge/-agent and, when given, -b-edge/-b-agent, interleaved (for comparing builds)")
	fs.StringVar(&o.abEdge, "b-edge", "", "A/B mode: the second edge binary")
	fs.StringVar(&o.abAgent, "b-agent", "", "A/B mode: the second agent binary (default: -agent)")
	sessions := fs.Int("sessions", 0, "idle-session memory mode: open N idle agent sessions to one edge and report its RSS (0: off)")
	_ = fs.Parse(os.Args[1:])
	o.total = *totalMiB << 20
	if *sessions > 0 {
		os.Exit(runSessions(o, *sessions))
	}
	if o.ab {
		os.Exit(runAB(o))
	}
	os.Exit(run(o))
}

// startRun makes the run's log directory and arranges for every child
// group to be stopped on Ctrl-C / SIGTERM and when the overall timeout
// expires. cleanup stops the children and removes the logs (unless
// -keep-logs); the caller stops the watchdog when done.
func startRun(o options, prefix string) (logDir string, cleanup func(), watchdog *time.Timer, err error) {
	logDir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, nil, err
	}
	cleanup = func() {
		stopAll()
		if !o.keepLogs {
			_ = os.RemoveAll(logDir)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		logf("%v: stopping the children", s)
		cleanup()
		os.Exit(130)
	}()
	watchdog = time.AfterFunc(o.timeout, func() {
		logf("overall timeout %s expired: stopping the children (logs kept in %s)", o.timeout, logDir)
		stopAll()
		os.Exit(1)
	})
	return logDir, cleanup, watchdog, nil
}

// ---------------------------------------------------------------- processes

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var (
	procsMu  sync.Mutex
	procs    []*proc
	stopping bool
)

func start(logDir, name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	procsMu.Lock()
	defer procsMu.Unlock()
	if stopping {
		f.Close()
		return nil, errors.New("stopping")
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	procs = append(procs, p)
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 3 s.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // stragglers of the group, if any
}

func stopAll() {
	procsMu.Lock()
	stopping = true
	ps := append([]*proc(nil), procs...)
	procsMu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return p.name + " log (" + p.log + "):\n  " + strings.Join(lines, "\n  ")
}

// waitFor polls cond every 50 ms until it holds, p exits or limit passes.
func waitFor(what string, limit time.Duration, p *proc, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for i := 0; i < int(limit/(50*time.Millisecond))+1; i++ {
		if cond() {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s: %s exited\n%s", what, p.name, p.tail())
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p != nil {
		return fmt.Errorf("%s: not ready after %s\n%s", what, limit, p.tail())
	}
	return fmt.Errorf("%s: not ready after %s", what, limit)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold all listeners until every port is picked so they differ.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func canDial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func httpOK(url, host string) bool {
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode == 200
}

// ---------------------------------------------------------------- sink

// runSink is the sink child: a TCP listener that reads an 8-byte big-endian
// length, discards that many bytes and then writes one byte (no half-close,
// which frp does not forward), and an HTTP server answering
// "ok". It writes "TCPADDR HTTPADDR" to the -ready file once listening.
func runSink(args []string) int {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	ready := fs.String("ready", "", "file receiving the listen addresses")
	_ = fs.Parse(args)
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				// Large reads: io.Discard would read 8 KiB at a time, and
				// the sink's system calls would take CPU from the paths
				// being measured.
				left := int64(binary.BigEndian.Uint64(hdr[:]))
				buf := make([]byte, 256<<10)
				for left > 0 {
					n, err := c.Read(buf[:min(int64(len(buf)), left)])
					left -= int64(n)
					if err != nil {
						return
					}
				}
				_, _ = c.Write([]byte{1})
			}()
		}
	}()
	ok := []byte("ok")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(ok)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(hln) }()
	tmp := *ready + ".tmp"
	if err := os.WriteFile(tmp, []byte(tln.Addr().String()+" "+hln.Addr().String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(tmp, *ready); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}

// ---------------------------------------------------------------- load

type tcpResult struct {
	mbps     float64
	moved    int64
	elapsed  time.Duration
	complete bool
	err      error
}

// bulkTCP sends total bytes over streams parallel connections to addr and
// waits for the sink's end marker on each (sent after the announced
// length arrived); bounded by limit.
func bulkTCP(addr string, total int64, streams int, limit time.Duration) tcpResult {
	per := total / int64(streams)
	deadline := time.Now().Add(limit)
	var moved atomic.Int64
	errs := make(chan error, streams)
	conns := make([]net.Conn, streams)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return tcpResult{err: err}
		}
		_ = c.SetDeadline(deadline)
		conns[i] = c
	}
	begin := time.Now()
	for _, c := range conns {
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 256<<10)
			var hdr [8]byte
			binary.BigEndian.PutUint64(hdr[:], uint64(per))
			if _, err := c.Write(hdr[:]); err != nil {
				errs <- err
				return
			}
			left := per
			for n := int64(0); left > 0 && n < per/int64(len(buf))+2; n++ {
				chunk := buf
				if int64(len(chunk)) > left {
					chunk = chunk[:left]
				}
				w, err := c.Write(chunk)
				moved.Add(int64(w))
				left -= int64(w)
				if err != nil {
					errs <- err
					return
				}
			}
			if _, err := io.ReadFull(c, buf[:1]); err != nil {
				errs <- fmt.Errorf("waiting for the sink's end marker: %w", err)
				return
			}
			errs <- nil
		}(c)
	}
	var firstErr error
	for range conns {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	el := time.Since(begin)
	r := tcpResult{moved: moved.Load(), elapsed: el, complete: firstErr == nil, err: firstErr}
	r.mbps = float64(r.moved) / el.Seconds() / 1e6
	return r
}

func newTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

func get(c *http.Client, url, host string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

type satResult struct {
	rps      float64
	ok, errs int64
	firstErr error
}

// saturate runs conc workers issuing keep-alive GETs for dur (and at most
// maxReq requests in all).
func saturate(c *http.Client, url, host string, conc int, dur time.Duration, maxReq int64) satResult {
	var ok, bad, issued atomic.Int64
	var errOnce sync.Once
	var firstErr error
	end := time.Now().Add(dur)
	begin := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && issued.Add(1) <= maxReq {
				if err := get(c, url, host); err != nil {
					bad.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(begin)
	return satResult{rps: float64(ok.Load()) / el.Seconds(), ok: ok.Load(), errs: bad.Load(), firstErr: firstErr}
}

type latResult struct {
	p50, p99      time.Duration
	n, errs, drop int
	firstErr      error
	samples       []time.Duration // every successful request's latency
}

// add pools another run's samples and counts into r; percentiles follows.
func (r *latResult) add(o latResult) {
	r.samples = append(r.samples, o.samples...)
	r.n += o.n
	r.errs += o.errs
	r.drop += o.drop
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
}

// percentiles sets p50 and p99 from the samples.
func (r *latResult) percentiles() {
	got := r.samples
	sort.Slice(got, func(a, b int) bool { return got[a] < got[b] })
	if len(got) > 0 {
		r.p50 = got[pct(len(got), 50)]
		r.p99 = got[pct(len(got), 99)]
	}
}

// fixedRate issues GETs open-loop at rate req/s for dur (one goroutine per
// request, at most 1,000 in flight) and returns latency percentiles measured
// from each request's send to the end of its response body.
func fixedRate(c *http.Client, url, host string, rate int, dur time.Duration) latResult {
	total := int(dur.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lats := make([]time.Duration, total)
	okv := make([]bool, total)
	sem := make(chan struct{}, 1000)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	var errs atomic.Int64
	drop := 0
	begin := time.Now()
	for i := 0; i < total; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		select {
		case sem <- struct{}{}:
		default:
			drop++
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			if err := get(c, url, host); err != nil {
				errs.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			lats[i] = time.Since(t0)
			okv[i] = true
		}(i)
	}
	wg.Wait()
	var got []time.Duration
	for i, l := range lats {
		if okv[i] {
			got = append(got, l)
		}
	}
	r := latResult{n: len(got), errs: int(errs.Load()), drop: drop, firstErr: firstErr, samples: got}
	r.percentiles()
	return r
}

func pct(n int, p float64) int {
	i := int(float64(n)*p/100+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= n {
		i = n - 1
	}
	return i
}

// ---------------------------------------------------------------- paths

type target struct {
	tcpAddr  string // bulk TCP endpoint
	httpURL  string // HTTP endpoint
	httpHost string // Host header
}

type measurement struct {
	ran     bool
	skipWhy string
	tcp     tcpResult // the median round
	tcpMin  float64   // slowest and fastest round, MB/s
	tcpMax  float64
	sat     satResult
	lat     latResult
}

func measure(name string, t target, o options) measurement {
	m := measurement{ran: true}
	logf("%s: bulk TCP warm-up (16 MiB)", name)
	if w := bulkTCP(t.tcpAddr, 16<<20, o.streams, 15*time.Second); w.err != nil {
		logf("%s: warm-up: %v", name, w.err)
	}

	tr := newTransport(o.conc * 2)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	_ = saturate(c, t.httpURL, t.httpHost, o.conc, 500*time.Millisecond, 1_000_000) // warm-up
	logf("%s: HTTP saturation, %d concurrent for %s", name, o.conc, o.satDur)
	m.sat = saturate(c, t.httpURL, t.httpHost, o.conc, o.satDur, 20_000_000)
	logf("%s:   %.0f req/s (%d ok, %d errors, first error: %v)", name, m.sat.rps, m.sat.ok, m.sat.errs, m.sat.firstErr)
	tr.CloseIdleConnections()
	return m
}

// latRounds is how many interleaved rounds the fixed-rate latency runs in.
const latRounds = 5

// tcpRounds is how many interleaved rounds of bulk TCP every path runs;
// the table shows each path's median.
const tcpRounds = 3

// measureTCP runs the bulk TCP transfer of every path in tcpRounds
// interleaved rounds (direct, edgeway, frp, then the next round starting
// one path later) and keeps each path's median round. A single transfer
// per path, one path after the other, let a busy moment of the machine
// fall on one path only: the direct figure alone swung from 3.1 to
// 4.5 GB/s between runs.
func measureTCP(names []string, targets map[string]target, results map[string]measurement, o options) {
	logf("bulk TCP: %d MiB over %d streams per path and round, %d interleaved rounds", o.total>>20, o.streams, tcpRounds)
	rounds := map[string][]tcpResult{}
	for r := 0; r < tcpRounds; r++ {
		for i := range names {
			name := names[(r+i)%len(names)]
			res := bulkTCP(targets[name].tcpAddr, o.total, o.streams, o.tcpLimit)
			logf("%s:   %.0f MB/s (%d bytes in %s, complete=%v, err=%v)", name, res.mbps, res.moved, res.elapsed.Round(time.Millisecond), res.complete, res.err)
			rounds[name] = append(rounds[name], res)
		}
	}
	for _, name := range names {
		rs := rounds[name]
		sort.Slice(rs, func(a, b int) bool { return rs[a].mbps < rs[b].mbps })
		m := results[name]
		m.tcp = rs[len(rs)/2]
		m.tcpMin, m.tcpMax = rs[0].mbps, rs[len(rs)-1].mbps
		for _, r := range rs {
			if !r.complete {
				m.tcp.complete, m.tcp.err = false, r.err
			}
		}
		results[name] = m
		logf("%s:   median %.0f MB/s (%.0f-%.0f)", name, m.tcp.mbps, m.tcpMin, m.tcpMax)
	}
}

// measureLatency runs the fixed-rate latency test of every path in
// latRounds interleaved rounds (direct, edgeway, frp, then the next round
// starting one path later) and pools each path's samples, so slow drifts
// in the machine's load fall on every path alike instead of on whichever
// ran at a bad moment.
func measureLatency(names []string, targets map[string]target, results map[string]measurement, o options) {
	clients := map[string]*http.Client{}
	for _, name := range names {
		t := targets[name]
		tr := newTransport(1000)
		defer tr.CloseIdleConnections()
		clients[name] = &http.Client{Transport: tr, Timeout: 5 * time.Second}
		_ = fixedRate(clients[name], t.httpURL, t.httpHost, o.rate, 500*time.Millisecond) // warm-up
	}
	slice := o.latDur / latRounds
	logf("HTTP at %d req/s: %s per path in %d interleaved rounds of %s", o.rate, o.latDur, latRounds, slice)
	for r := 0; r < latRounds; r++ {
		for i := range names {
			name := names[(r+i)%len(names)]
			t := targets[name]
			m := results[name]
			m.lat.add(fixedRate(clients[name], t.httpURL, t.httpHost, o.rate, slice))
			results[name] = m
		}
	}
	for _, name := range names {
		m := results[name]
		m.lat.percentiles()
		results[name] = m
		l := m.lat
		logf("%s:   p50 %s p99 %s (%d ok, %d errors, %d dropped, first error: %v)", name, us(l.p50), us(l.p99), l.n, l.errs, l.drop, l.firstErr)
	}
}

var agentForward = regexp.MustCompile(`Forwarding\s+(\S+)`)

func forwarding(p *proc) string {
	b, _ := os.ReadFile(p.log)
	if m := agentForward.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

func startEdgeway(logDir string, sinkTCP, sinkHTTP string, o options) (target, []*proc, error) {
	ports, err := freePorts(4)
	if err != nil {
		return target{}, nil, err
	}
	agentAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	opsAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	tcpPort := ports[3]
	var ps []*proc
	edge, err := start(logDir, "edge", o.edgeBin,
		"-dev-authtoken", token, "-region", "us", "-agent-addr", agentAddr, "-http-addr", httpAddr,
		"-ops-addr", opsAddr, "-tcp-ports", fmt.Sprintf("%d-%d", tcpPort, tcpPort),
		"-drain-timeout", "1s", "-log-level", "warn")
	if err != nil {
		return target{}, ps, err
	}
	ps = append(ps, edge)
	if err := waitFor("edge listening", 15*time.Second, edge, func() bool { return canDial(agentAddr) && canDial(httpAddr) }); err != nil {
		return target{}, ps, err
	}
	common := []string{"--plaintext", "--server-addr", agentAddr, "--authtoken", token, "--region", "us", "--log-level", "warn"}
	atcp, err := start(logDir, "agent-tcp", o.agentBin, append([]string{"tcp", sinkTCP}, common...)...)
	if err != nil {
		return target{}, ps, err
	}
	ps = append(ps, atcp)
	ahttp, err := start(logDir, "agent-http", o.agentBin, append([]string{"http", sinkHTTP, "--domain", "bench"}, common...)...)
	if err != nil {
		return target{}, ps, err
	}
	ps = append(ps, ahttp)
	if err := waitFor("agent tcp online", 15*time.Second, atcp, func() bool { return forwarding(atcp) != "" }); err != nil {
		return target{}, ps, err
	}
	if err := waitFor("agent http online", 15*time.Second, ahttp, func() bool { return forwarding(ahttp) != "" }); err != nil {
		return target{}, ps, err
	}
	tcpURL := forwarding(atcp) // tcp://us.localhost:PORT
	i := strings.LastIndex(tcpURL, ":")
	if i < 0 {
		return target{}, ps, fmt.Errorf("agent tcp: unexpected public URL %q", tcpURL)
	}
	if _, err := strconv.Atoi(tcpURL[i+1:]); err != nil {
		return target{}, ps, fmt.Errorf("agent tcp: unexpected public URL %q", tcpURL)
	}
	t := target{
		tcpAddr:  "127.0.0.1" + tcpURL[i:],
		httpURL:  "http://" + httpAddr + "/",
		httpHost: "bench.us.localhost",
	}
	if err := waitFor("edgeway http tunnel", 10*time.Second, ahttp, func() bool { return httpOK(t.httpURL, t.httpHost) }); err != nil {
		return target{}, ps, err
	}
	logf("edgeway: edge %s, tcp %s, http %s (Host %s)", agentAddr, t.tcpAddr, t.httpURL, t.httpHost)
	return t, ps, nil
}

func startFRP(logDir string, sinkTCP, sinkHTTP string, o options) (target, []*proc, error) {
	ports, err := freePorts(3)
	if err != nil {
		return target{}, nil, err
	}
	bindPort, vhostPort, remotePort := ports[0], ports[1], ports[2]
	_, sinkTCPPort, _ := net.SplitHostPort(sinkTCP)
	_, sinkHTTPPort, _ := net.SplitHostPort(sinkHTTP)
	frps := fmt.Sprintf(`bindAddr = "127.0.0.1"
bindPort = %d
proxyBindAddr = "127.0.0.1"
vhostHTTPPort = %d
auth.token = %q
log.to = "console"
log.level = "warn"
`, bindPort, vhostPort, token)
	frpc := fmt.Sprintf(`serverAddr = "127.0.0.1"
serverPort = %d
auth.token = %q
loginFailExit = true
log.to = "console"
log.level = "warn"
transport.tls.enable = %v

[[proxies]]
name = "bench-tcp"
type = "tcp"
localIP = "127.0.0.1"
localPort = %s
remotePort = %d

[[proxies]]
name = "bench-http"
type = "http"
localIP = "127.0.0.1"
localPort = %s
customDomains = ["bench.frp.localhost"]
`, bindPort, token, o.frpTLS, sinkTCPPort, remotePort, sinkHTTPPort)
	sf, cf := filepath.Join(logDir, "frps.toml"), filepath.Join(logDir, "frpc.toml")
	if err := os.WriteFile(sf, []byte(frps), 0o600); err != nil {
		return target{}, nil, err
	}
	if err := os.WriteFile(cf, []byte(frpc), 0o600); err != nil {
		return target{}, nil, err
	}
	var ps []*proc
	s, err := start(logDir, "frps", o.frpsBin, "-c", sf)
	if err != nil {
		return target{}, ps, err
	}
	ps = append(ps, s)
	bindAddr := fmt.Sprintf("127.0.0.1:%d", bindPort)
	if err := waitFor("frps listening", 15*time.Second, s, func() bool { return canDial(bindAddr) }); err != nil {
		return target{}, ps, err
	}
	c, err := start(logDir, "frpc", o.frpcBin, "-c", cf)
	if err != nil {
		return target{}, ps, err
	}
	ps = append(ps, c)
	t := target{
		tcpAddr:  fmt.Sprintf("127.0.0.1:%d", remotePort),
		httpURL:  fmt.Sprintf("http://127.0.0.1:%d/", vhostPort),
		httpHost: "bench.frp.localhost",
	}
	if err := waitFor("frp tcp proxy", 15*time.Second, c, func() bool { return canDial(t.tcpAddr) }); err != nil {
		return target{}, ps, err
	}
	if err := waitFor("frp http proxy", 15*time.Second, c, func() bool { return httpOK(t.httpURL, t.httpHost) }); err != nil {
		return target{}, ps, err
	}
	logf("frp: frps %s, tcp %s, http %s (Host %s), tls=%v", bindAddr, t.tcpAddr, t.httpURL, t.httpHost, o.frpTLS)
	return t, ps, nil
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// ---------------------------------------------------------------- run

var t0 = time.Now()

var loadStart = loadavg()

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
}

func run(o options) int {
	for _, b := range []string{o.edgeBin, o.agentBin} {
		if !executable(b) {
			fmt.Fprintf(os.Stderr, "tunnelbench: %s not found; run from the repository root after make build\n", b)
			return 2
		}
	}
	if o.streams < 1 || o.conc < 1 || o.rate < 1 || o.total < int64(o.streams) {
		fmt.Fprintln(os.Stderr, "tunnelbench: -streams, -conc, -rate and -tcp-mib must be positive")
		return 2
	}
	logDir, cleanup, watchdog, err := startRun(o, "tunnelbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer watchdog.Stop()

	sink, sinkTCP, sinkHTTP, err := startSink(logDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanup()
		return 1
	}
	logf("sink process: tcp %s, http %s; logs in %s", sinkTCP, sinkHTTP, logDir)

	results := map[string]measurement{}
	targets := map[string]target{"direct": {tcpAddr: sinkTCP, httpURL: "http://" + sinkHTTP + "/", httpHost: "sink.localhost"}}
	ran := []string{"direct"}
	results["direct"] = measure("direct", targets["direct"], o)

	// Every stack keeps running (idle) until the interleaved latency test
	// at the end.
	var stacks [][]*proc
	code := 0
	t, ps, err := startEdgeway(logDir, sinkTCP, sinkHTTP, o)
	stacks = append(stacks, ps)
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgeway: %v\n", err)
		results["edgeway"] = measurement{skipWhy: "failed to start"}
		code = 1
	} else {
		results["edgeway"] = measure("edgeway", t, o)
		targets["edgeway"] = t
		ran = append(ran, "edgeway")
	}

	frpName := "frp"
	if o.frpTLS {
		frpName = "frp (tls)"
	}
	if !executable(o.frpsBin) || !executable(o.frpcBin) {
		fmt.Fprintf(os.Stderr, "frp: %s or %s missing; skipping the frp rows. Build them (outside go.mod) with `make frp`, i.e.:\n"+
			"  mkdir -p .tools/frp-build && cd .tools/frp-build && go mod init scratch && \\\n"+
			"  go get -tool github.com/fatedier/frp/cmd/frps@v0.68.1 github.com/fatedier/frp/cmd/frpc@v0.68.1 && \\\n"+
			"  GOBIN=$PWD/../bin go install -tags noweb tool\n", o.frpsBin, o.frpcBin)
		results["frp"] = measurement{skipWhy: "not built (make frp)"}
	} else {
		t, ps, err := startFRP(logDir, sinkTCP, sinkHTTP, o)
		stacks = append(stacks, ps)
		if err != nil {
			fmt.Fprintf(os.Stderr, "frp: %v\n", err)
			results["frp"] = measurement{skipWhy: "failed to start"}
			code = 1
		} else {
			results["frp"] = measure("frp", t, o)
			targets["frp"] = t
			ran = append(ran, "frp")
		}
	}
	measureTCP(ran, targets, results, o)
	measureLatency(ran, targets, results, o)
	for j := len(stacks) - 1; j >= 0; j-- {
		for i := len(stacks[j]) - 1; i >= 0; i-- {
			stacks[j][i].stop()
		}
	}
	sink.stop()

	os.Stderr.Sync()
	printTable(os.Stdout, results, o, frpName)
	watchdog.Stop()
	cleanup()
	if o.keepLogs {
		logf("logs kept in %s", logDir)
	}
	logf("done in %s", time.Since(t0).Round(100*time.Millisecond))
	return code
}

// startSink starts the sink process (this binary with -sink) and returns
// its TCP and HTTP addresses.
func startSink(logDir string) (sink *proc, tcpAddr, httpAddr string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", "", err
	}
	readyFile := filepath.Join(logDir, "sink.addr")
	sink, err = start(logDir, "sink", self, "-sink", "-ready", readyFile)
	if err != nil {
		return nil, "", "", err
	}
	if err := waitFor("sink", 10*time.Second, sink, func() bool { _, err := os.Stat(readyFile); return err == nil }); err != nil {
		return nil, "", "", err
	}
	b, _ := os.ReadFile(readyFile)
	addrs := strings.Fields(string(b))
	if len(addrs) != 2 {
		return nil, "", "", fmt.Errorf("sink: bad ready file %q", b)
	}
	return sink, addrs[0], addrs[1], nil
}

// ---------------------------------------------------------------- report

func us(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }

func printTable(w io.Writer, r map[string]measurement, o options, frpName string) {
	d, e, f := r["direct"], r["edgeway"], r["frp"]
	val := func(m measurement, x float64, format string) string {
		if !m.ran {
			return "n/a"
		}
		return fmt.Sprintf(format, x)
	}
	ratio := func(a, b measurement, x, y float64) string {
		if !a.ran || !b.ran || y == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", x/y)
	}
	ms := func(t time.Duration) float64 { return float64(t) / 1e6 }
	added := func(m measurement, p func(latResult) time.Duration) float64 {
		return ms(p(m.lat) - p(d.lat))
	}
	p50 := func(l latResult) time.Duration { return l.p50 }
	p99 := func(l latResult) time.Duration { return l.p99 }

	fmt.Fprintf(w, "\nTunnel benchmark (separate processes, loopback; edgeway agent link plain; %s tcp_mux default", frpName)
	if !o.frpTLS {
		fmt.Fprint(w, ", TLS off to match")
	}
	fmt.Fprintf(w, ")\nload average at start %s, at end %s (%d CPUs)\n", loadStart, loadavg(), runtime.NumCPU())
	fmt.Fprintf(w, "TCP: %d MiB over %d streams, median of %d interleaved rounds; HTTP saturation: %d concurrent for %s; latency: %d req/s for %s per path, in %d interleaved rounds\n\n",
		o.total>>20, o.streams, tcpRounds, o.conc, o.satDur, o.rate, o.latDur, latRounds)
	fmt.Fprintf(w, "%-32s %10s %10s %10s %10s %10s\n", "metric", "direct", "edgeway", "frp", "ew/frp", "ew/direct")
	row := func(name, dv, ev, fv, r1, r2 string) {
		fmt.Fprintf(w, "%-32s %10s %10s %10s %10s %10s\n", name, dv, ev, fv, r1, r2)
	}
	row("TCP throughput (MB/s)", val(d, d.tcp.mbps, "%.0f"), val(e, e.tcp.mbps, "%.0f"), val(f, f.tcp.mbps, "%.0f"),
		ratio(e, f, e.tcp.mbps, f.tcp.mbps), ratio(e, d, e.tcp.mbps, d.tcp.mbps))
	span := func(m measurement) string {
		if !m.ran {
			return "n/a"
		}
		return fmt.Sprintf("%.0f-%.0f", m.tcpMin, m.tcpMax)
	}
	row("  rounds, slowest-fastest", span(d), span(e), span(f), "", "")
	row("HTTP req/s at saturation", val(d, d.sat.rps, "%.0f"), val(e, e.sat.rps, "%.0f"), val(f, f.sat.rps, "%.0f"),
		ratio(e, f, e.sat.rps, f.sat.rps), ratio(e, d, e.sat.rps, d.sat.rps))
	row(fmt.Sprintf("HTTP p50 @%d req/s (ms)", o.rate), val(d, ms(d.lat.p50), "%.3f"), val(e, ms(e.lat.p50), "%.3f"), val(f, ms(f.lat.p50), "%.3f"), "", "")
	row(fmt.Sprintf("HTTP p99 @%d req/s (ms)", o.rate), val(d, ms(d.lat.p99), "%.3f"), val(e, ms(e.lat.p99), "%.3f"), val(f, ms(f.lat.p99), "%.3f"), "", "")
	row("  added p50 vs direct (ms)", "-", val(e, added(e, p50), "%.3f"), val(f, added(f, p50), "%.3f"),
		ratio(e, f, added(e, p50), added(f, p50)), "")
	row("  added p99 vs direct (ms)", "-", val(e, added(e, p99), "%.3f"), val(f, added(f, p99), "%.3f"),
		ratio(e, f, added(e, p99), added(f, p99)), "")

	var notes []string
	for _, n := range []string{"direct", "edgeway", "frp"} {
		m := r[n]
		if !m.ran {
			notes = append(notes, fmt.Sprintf("%s: skipped (%s)", n, m.skipWhy))
			continue
		}
		if !m.tcp.complete {
			notes = append(notes, fmt.Sprintf("%s: bulk TCP incomplete (%d of %d bytes sent: %v)", n, m.tcp.moved, o.total, m.tcp.err))
		}
		if m.sat.errs > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d HTTP errors at saturation (first: %v)", n, m.sat.errs, m.sat.firstErr))
		}
		if m.lat.errs > 0 || m.lat.drop > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d HTTP errors, %d dropped at fixed rate (first: %v)", n, m.lat.errs, m.lat.drop, m.lat.firstErr))
		}
	}

	fmt.Fprintf(w, "\n%-52s %12s  %s\n", "target (issue 3)", "measured", "result")
	verdict := func(ok, have bool) string {
		if !have {
			return "SKIP"
		}
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	tgt := func(name, measured string, ok, have bool) {
		if !have {
			measured = "n/a"
		}
		fmt.Fprintf(w, "%-52s %12s  %s\n", name, measured, verdict(ok, have))
	}
	ewOK := e.ran && e.tcp.complete
	frOK := f.ran && f.tcp.complete
	tgt("TCP throughput >= 2x frp", fmt.Sprintf("%.2fx", safeDiv(e.tcp.mbps, f.tcp.mbps)), safeDiv(e.tcp.mbps, f.tcp.mbps) >= 2, ewOK && frOK)
	tgt("TCP throughput >= 35% of direct", fmt.Sprintf("%.1f%%", 100*safeDiv(e.tcp.mbps, d.tcp.mbps)), safeDiv(e.tcp.mbps, d.tcp.mbps) >= 0.35, ewOK && d.tcp.complete)
	tgt("HTTP req/s >= 1.5x frp", fmt.Sprintf("%.2fx", safeDiv(e.sat.rps, f.sat.rps)), safeDiv(e.sat.rps, f.sat.rps) >= 1.5, e.ran && f.ran && e.sat.ok > 0)
	tgt(fmt.Sprintf("HTTP p99 added latency < 1 ms at %d req/s", o.rate), fmt.Sprintf("%.3fms", added(e, p99)),
		added(e, p99) < 1 && e.lat.errs == 0 && e.lat.drop == 0, e.ran && e.lat.n > 0)
	if o.rate != 1000 {
		notes = append(notes, fmt.Sprintf("latency target is defined at 1,000 req/s; this run used %d", o.rate))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "note: "+n)
		}
	}
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
