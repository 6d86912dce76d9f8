package main

// Idle-session memory mode (issue 3, "Memory": 10,000 idle agent sessions
// on one edge in under 1 GiB of edge RSS).
//
// bin/tunnelbench -sessions N starts bin/edge as a separate process (plain
// agent listener, dev authtoken, no TCP port range), then opens N idle agent
// sessions to it from this process with the agent library (each: connect,
// authenticate, open the control stream, bind one HTTP tunnel with a random
// subdomain, then stay idle with heartbeats), in bounded concurrency. It then
// reads the edge's VmRSS from /proc/PID/status and go_goroutines from its
// ops /metrics, and prints PASS/MISS against < 1 GiB for 10,000 sessions
// (the budget scales linearly for other N).

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
)

const (
	sessConc        = 64               // connects in flight at once
	sessConnectTime = 3 * time.Minute  // bound of the connect phase
	sessSettle      = 12 * time.Second // idle time before measuring: covers one 10 s heartbeat period
	sessBudget      = 1 << 30          // edge RSS budget for 10,000 sessions
	sessBudgetN     = 10000
)

// raiseNofile raises RLIMIT_NOFILE (soft, and hard when allowed) to at
// least want; the edge child inherits the result.
func raiseNofile(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur >= want {
		// Set explicitly anyway so the child inherits the raised soft limit
		// (Go restores the original soft limit in children otherwise).
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		return rl.Cur, nil
	}
	nl := rl
	nl.Cur = want
	if nl.Max < want {
		nl.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nl); err != nil {
		// Not allowed to raise the hard limit: take what the hard limit gives.
		nl = rl
		nl.Cur = rl.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nl); err2 != nil {
			return rl.Cur, err2
		}
		return nl.Cur, fmt.Errorf("hard limit %d < %d: %w", rl.Max, want, err)
	}
	return nl.Cur, nil
}

// procStatusKiB returns a "VmXXX:" field of /proc/PID/status in KiB.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			fs := strings.Fields(line[len(field)+1:])
			if len(fs) == 0 {
				break
			}
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not found in /proc/%d/status", field, pid)
}

// scrape returns the values of unlabelled (or first-seen) metrics by name.
func scrape(url string, names ...string) map[string]float64 {
	out := map[string]float64{}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(line, n) {
				continue
			}
			rest := line[len(n):]
			if !(strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
				continue
			}
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				continue
			}
			if v, err := strconv.ParseFloat(fs[len(fs)-1], 64); err == nil {
				if _, seen := out[n]; !seen {
					out[n] = v
				}
			}
		}
	}
	return out
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func runSessions(o options, n int) int {
	if !executable(o.edgeBin) {
		fmt.Fprintf(os.Stderr, "tunnelbench: %s not found; run from the repository root after make build\n", o.edgeBin)
		return 2
	}
	began := time.Now()
	// Stopping the edge first is enough: closing 10,000 sessions one by
	// one is not needed.
	logDir, cleanup, watchdog, err := startRun(o, "tunnelbench-sessions-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer watchdog.Stop()
	var live []*agent.Session
	var liveMu sync.Mutex

	// Each session holds one fd here and one in the edge; margin for the
	// listeners, the runtime and the metrics scrapes.
	lim, err := raiseNofile(uint64(n) + 1024)
	if err != nil {
		logf("RLIMIT_NOFILE: %v", err)
	}
	logf("RLIMIT_NOFILE %d (harness and edge child)", lim)
	if lim < uint64(n)+64 {
		logf("RLIMIT_NOFILE %d is too low for %d sessions: expect failures past about %d", lim, n, lim-64)
	}

	ports, err := freePorts(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanup()
		return 1
	}
	agentAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	opsAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	edge, err := start(logDir, "edge", o.edgeBin,
		"-dev-authtoken", token, "-region", "us", "-agent-addr", agentAddr, "-http-addr", httpAddr,
		"-ops-addr", opsAddr, "-tcp-ports", "", "-drain-timeout", "1s", "-log-level", "warn")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanup()
		return 1
	}
	if err := waitFor("edge listening", 15*time.Second, edge, func() bool { return canDial(agentAddr) && canDial(opsAddr) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cleanup()
		return 1
	}
	pid := edge.cmd.Process.Pid
	metricsURL := "http://" + opsAddr + "/metrics"
	time.Sleep(300 * time.Millisecond)
	rss0, _ := procStatusKiB(pid, "VmRSS")
	m0 := scrape(metricsURL, "go_goroutines")
	logf("edge pid %d: agent %s, ops %s; idle RSS %s, goroutines %.0f; logs in %s", pid, agentAddr, opsAddr, mib(rss0), m0["go_goroutines"], logDir)

	// Connect phase: sessConc workers, bounded by sessConnectTime.
	ctx, cancel := context.WithTimeout(context.Background(), sessConnectTime)
	defer cancel()
	var next, ok, failed atomic.Int64
	var firstErr atomic.Value
	var lastReport atomic.Int64
	cfgFor := func() agent.Config {
		return agent.Config{
			ServerAddr:  agentAddr,
			Authtoken:   token,
			DialTimeout: 20 * time.Second,
			Tunnels:     []agent.Tunnel{{Proto: proto.ProtoHTTP, LocalAddr: "127.0.0.1:1"}},
		}
	}
	tConn := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < sessConc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if next.Add(1) > int64(n) {
					return
				}
				s, err := agent.Connect(ctx, cfgFor())
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					if failed.Load() > int64(n)/100+50 {
						cancel() // too many failures: stop connecting, measure what we have
					}
					continue
				}
				liveMu.Lock()
				live = append(live, s)
				liveMu.Unlock()
				c := ok.Add(1)
				if c%1000 == 0 && lastReport.Swap(c) < c {
					logf("%d sessions connected (%.1fs, edge RSS %s)", c, time.Since(tConn).Seconds(), func() string {
						r, _ := procStatusKiB(pid, "VmRSS")
						return mib(r)
					}())
				}
			}
		}()
	}
	wg.Wait()
	connectDur := time.Since(tConn)
	if edge.exited() {
		fmt.Fprintf(os.Stderr, "edge exited during the connect phase\n%s\n", edge.tail())
		cleanup()
		return 1
	}
	logf("connect phase: %d connected, %d failed in %.1fs", ok.Load(), failed.Load(), connectDur.Seconds())
	if e, _ := firstErr.Load().(string); e != "" {
		logf("first connect error: %s", e)
	}
	logf("idling %s (heartbeats flowing) before measuring", sessSettle)
	time.Sleep(sessSettle)

	alive := 0
	liveMu.Lock()
	for _, s := range live {
		select {
		case <-s.Done():
		default:
			alive++
		}
	}
	liveMu.Unlock()
	rss, errRSS := procStatusKiB(pid, "VmRSS")
	hwm, _ := procStatusKiB(pid, "VmHWM")
	m := scrape(metricsURL, "go_goroutines", "edgeway_edge_agent_sessions", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes")
	selfRSS, _ := procStatusKiB(os.Getpid(), "VmRSS")
	if errRSS != nil {
		fmt.Fprintf(os.Stderr, "edge RSS: %v\n", errRSS)
		cleanup()
		return 1
	}

	w := os.Stdout
	fmt.Fprintf(w, "\nIdle agent sessions on one edge (separate process, plain agent listener, 1 HTTP tunnel each, loopback)\n")
	fmt.Fprintf(w, "  sessions requested          %d\n", n)
	fmt.Fprintf(w, "  sessions connected          %d (failed %d, alive at measurement %d, edge reports %s)\n",
		ok.Load(), failed.Load(), alive, metricOr(m, "edgeway_edge_agent_sessions"))
	fmt.Fprintf(w, "  connect phase               %.1fs (%d in flight)\n", connectDur.Seconds(), sessConc)
	fmt.Fprintf(w, "  edge RSS before sessions    %s\n", mib(rss0))
	fmt.Fprintf(w, "  edge RSS total (VmRSS)      %s (peak VmHWM %s)\n", mib(rss), mib(hwm))
	per := 0.0
	if alive > 0 {
		per = float64(rss) / float64(alive)
		fmt.Fprintf(w, "  edge RSS per session        %.1f KiB total/sessions, %.1f KiB above the idle edge\n", per, float64(rss-rss0)/float64(alive))
	}
	if v, okm := m["go_memstats_heap_inuse_bytes"]; okm {
		fmt.Fprintf(w, "  edge Go heap in use         %.1f MiB, stacks %.1f MiB\n", v/(1<<20), m["go_memstats_stack_inuse_bytes"]/(1<<20))
	}
	if v, okm := m["go_goroutines"]; okm {
		g := fmt.Sprintf("%.0f", v)
		if alive > 0 {
			g += fmt.Sprintf(" (%.2f per session)", (v-m0["go_goroutines"])/float64(alive))
		}
		fmt.Fprintf(w, "  edge goroutines             %s\n", g)
	} else {
		fmt.Fprintf(w, "  edge goroutines             n/a (no go_goroutines on %s)\n", metricsURL)
	}
	fmt.Fprintf(w, "  harness RSS (agent side)    %s\n", mib(selfRSS))
	verdict := "MISS"
	budgetKiB := float64(sessBudget/1024) * float64(n) / sessBudgetN
	switch {
	case alive < n:
		verdict = fmt.Sprintf("MISS (only %d of %d sessions alive)", alive, n)
	case float64(rss) < budgetKiB:
		verdict = "PASS"
	}
	if n == sessBudgetN {
		fmt.Fprintf(w, "  target < 1 GiB for 10,000   %s (%s)\n", verdict, mib(rss))
	} else {
		fmt.Fprintf(w, "  target < 1 GiB for 10,000   %s (budget scaled to %d sessions: %s; projected 10,000: %s)\n",
			verdict, n, mib(int64(budgetKiB)), mib(int64(per*sessBudgetN)))
	}
	fmt.Fprintf(w, "  wall time                   %.1fs\n", time.Since(began).Seconds())

	code := 0
	if !strings.HasPrefix(verdict, "PASS") {
		code = 1
	}
	cleanup()
	return code
}

func metricOr(m map[string]float64, name string) string {
	if v, ok := m[name]; ok {
		return fmt.Sprintf("%.0f", v)
	}
	return "n/a"
}
