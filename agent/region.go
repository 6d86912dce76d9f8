package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

// DefaultEdges maps each region to its edge's agent address in the local
// development stack (internal/devstack): region i in region order listens
// for agents on 127.0.0.1:9002+10*i (us 9002, eu 9012 ... in 9062).
func DefaultEdges() map[region.Code]string {
	m := make(map[region.Code]string)
	for i, r := range region.All() {
		m[r.Code] = "127.0.0.1:" + strconv.Itoa(9002+10*i)
	}
	return m
}

// ParseEdges parses "us=host:port,eu=host:port" into a region -> address
// map, reporting every bad entry.
func ParseEdges(s string) (map[region.Code]string, error) {
	m := make(map[region.Code]string)
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		code, addr, ok := strings.Cut(part, "=")
		if !ok || addr == "" {
			errs = append(errs, fmt.Errorf("edge %q: want REGION=HOST:PORT", part))
			continue
		}
		c, err := region.Parse(code)
		if err != nil {
			errs = append(errs, fmt.Errorf("edge %q: %w", part, err))
			continue
		}
		m[c] = addr
	}
	return m, errors.Join(errs...)
}

// ProbeResult is one edge's answer to Probe.
type ProbeResult struct {
	Region region.Code
	Addr   string
	// Latency is the best round trip of a probe call; zero when Err is set.
	Latency time.Duration
	Err     error
}

// probeCalls is how many probe calls Probe makes per edge; it keeps the
// fastest, so one scheduling hiccup does not decide the region.
const probeCalls = 3

// Probe measures every edge's round trip concurrently and returns the
// results sorted by latency, unreachable edges last. Each edge gets one
// connection (plain, or TLS when tlsConfig is set) and probeCalls probe
// calls; the handshake itself is not counted. An edge that reports a
// different region than expected is an error.
func Probe(ctx context.Context, edges map[region.Code]string, tlsConfig *tls.Config, timeout time.Duration, log *slog.Logger) []ProbeResult {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	results := make([]ProbeResult, 0, len(edges))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for code, addr := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := probeOne(ctx, code, addr, tlsConfig, timeout, log)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if (a.Err == nil) != (b.Err == nil) {
			return a.Err == nil
		}
		if a.Latency != b.Latency {
			return a.Latency < b.Latency
		}
		return a.Region < b.Region
	})
	return results
}

func probeOne(ctx context.Context, code region.Code, addr string, tlsConfig *tls.Config, timeout time.Duration, log *slog.Logger) ProbeResult {
	res := ProbeResult{Region: code, Addr: addr}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mux, err := dial(ctx, addr, tlsConfig, log)
	if err != nil {
		res.Err = err
		return res
	}
	defer mux.Close()
	for i := 0; i < probeCalls; i++ {
		start := time.Now()
		var resp proto.ProbeResponse
		if err := proto.Call(ctx, mux, proto.TypeProbe, proto.ProbeRequest{}, &resp); err != nil {
			res.Err = fmt.Errorf("probe edge %s: %w", addr, err)
			res.Latency = 0
			return res
		}
		rtt := time.Since(start)
		if resp.Region != string(code) {
			res.Err = fmt.Errorf("edge %s serves region %q, not %q", addr, resp.Region, code)
			return res
		}
		if res.Latency == 0 || rtt < res.Latency {
			res.Latency = rtt
		}
	}
	return res
}

// Closest returns the reachable edge with the lowest latency from
// results sorted by Probe, or an error listing why none was reachable.
func Closest(results []ProbeResult) (ProbeResult, error) {
	if len(results) > 0 && results[0].Err == nil {
		return results[0], nil
	}
	var errs []error
	for _, r := range results {
		errs = append(errs, fmt.Errorf("%s: %w", r.Region, r.Err))
	}
	if len(errs) == 0 {
		return ProbeResult{}, errors.New("no edges to probe")
	}
	return ProbeResult{}, fmt.Errorf("no region's edge is reachable: %w", errors.Join(errs...))
}
