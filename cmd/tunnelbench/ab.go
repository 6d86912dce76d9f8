package main

import (
	"fmt"
	"os"
	"time"
)

// runAB is the latency-only A/B mode (-ab): fixed-rate HTTP straight to
// the sink, through edgeway's HTTP tunnel and through a TCP tunnel of the
// same edge and agent (the floor an HTTP-aware edge can reach), for one or
// two builds, all interleaved like the main run. It prints the added
// latency of each path.
func runAB(o options) int {
	logDir, cleanup, watchdog, err := startRun(o, "tunnelbench-ab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer watchdog.Stop()
	defer cleanup()
	_, _, sinkHTTP, err := startSink(logDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	targets := map[string]target{"direct": {httpURL: "http://" + sinkHTTP + "/", httpHost: "sink.localhost"}}
	names := []string{"direct"}
	builds := []struct{ name, edge, agent string }{{"a", o.edgeBin, o.agentBin}}
	if o.abEdge != "" {
		agentBin := o.abAgent
		if agentBin == "" {
			agentBin = o.agentBin
		}
		builds = append(builds, struct{ name, edge, agent string }{"b", o.abEdge, agentBin})
	}
	for _, b := range builds {
		bo := o
		bo.edgeBin, bo.agentBin = b.edge, b.agent
		// The TCP agent forwards to the sink's HTTP port: HTTP through a
		// TCP tunnel.
		t, _, err := startEdgeway(logDir, sinkHTTP, sinkHTTP, bo)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			return 1
		}
		targets[b.name+" http"] = t
		targets[b.name+" tcp"] = target{httpURL: "http://" + t.tcpAddr + "/", httpHost: "sink.localhost"}
		names = append(names, b.name+" http", b.name+" tcp")
	}
	results := map[string]measurement{}
	measureLatency(names, targets, results, o)
	d := results["direct"].lat
	fmt.Printf("\nHTTP at %d req/s for %s per path, %d interleaved rounds (a = %s, b = %s)\n", o.rate, o.latDur, latRounds, o.edgeBin, o.abEdge)
	fmt.Printf("%-10s %9s %9s %11s %11s\n", "path", "p50 ms", "p99 ms", "added p50", "added p99")
	for _, n := range names {
		l := results[n].lat
		fmt.Printf("%-10s %9.3f %9.3f %11.3f %11.3f\n", n, ms(l.p50), ms(l.p99), ms(l.p50-d.p50), ms(l.p99-d.p99))
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
