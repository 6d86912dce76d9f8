package agent

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a session's live counters, as the agent's status view shows
// them (the columns of its Connections table are named after them).
type Stats struct {
	// Total counts connections proxied so far (HTTP keep-alive connections
	// count once); Open counts those open now.
	Total, Open int64
	// Latency is the last heartbeat round trip to the edge, 0 before the
	// first one.
	Latency time.Duration
	// OpenAvg1m and OpenAvg5m average the number of open connections over
	// the last minute and the last five minutes (or since the session
	// started, when that is shorter), from one sample per second.
	OpenAvg1m, OpenAvg5m float64
	// Completed counts connections that have ended. P50 and P90 are the
	// median and 90th percentile of the durations of the most recent ones
	// (up to DurationWindow); zero before the first ends.
	Completed int64
	P50, P90  time.Duration
}

const (
	// DurationWindow is how many recent connection durations P50 and P90
	// are computed over.
	DurationWindow = 1024
	// openWindow is how many one-second samples of the open count are
	// kept: five minutes.
	openWindow = 300
)

// connStats keeps a session's connection metrics. The proxy path pays two
// atomic adds when a connection starts and one short lock when it ends;
// the summaries (averages, percentiles) are computed when Stats is read.
// Nothing is allocated until the first connection ends or the first read,
// so idle sessions cost a few words.
type connStats struct {
	total atomic.Int64
	open  atomic.Int64

	mu        sync.Mutex
	completed int64
	durations []time.Duration // ring of the last DurationWindow durations
	// samples is a ring of per-second samples of open; nSamples counts
	// those taken (the newest is samples[(nSamples-1)%openWindow]).
	samples   []int32
	nSamples  int64
	sampledAt time.Time // when the sampled seconds end
}

// begin records a connection that starts; end records it ending.
func (c *connStats) begin() {
	c.total.Add(1)
	c.open.Add(1)
}

// end records a connection that ran for d.
func (c *connStats) end(d time.Duration) {
	c.mu.Lock()
	if c.durations == nil {
		c.durations = make([]time.Duration, 0, 16)
	}
	if len(c.durations) < DurationWindow {
		c.durations = append(c.durations, d)
	} else {
		c.durations[c.completed%DurationWindow] = d
	}
	c.completed++
	c.mu.Unlock()
	c.open.Add(-1)
}

// read summarizes the metrics at now. Sampling is lazy: every whole second
// since the previous sample takes the open count seen now, so a reader
// that calls once a second (the status view) samples once a second.
// started is when the session started.
func (c *connStats) read(now, started time.Time) Stats {
	st := Stats{Total: c.total.Load(), Open: c.open.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.samples == nil {
		c.samples = make([]int32, openWindow)
		c.sampledAt = started
	}
	if n := now.Sub(c.sampledAt) / time.Second; n > 0 {
		c.sampledAt = c.sampledAt.Add(n * time.Second)
		for i := int64(0); i < int64(min(n, openWindow)); i++ {
			c.samples[c.nSamples%openWindow] = int32(min(st.Open, 1<<31-1))
			c.nSamples++
		}
	}
	st.OpenAvg1m = c.average(60)
	st.OpenAvg5m = c.average(openWindow)
	st.Completed = c.completed
	if len(c.durations) > 0 {
		sorted := slices.Clone(c.durations)
		slices.Sort(sorted)
		st.P50, st.P90 = percentile(sorted, 50), percentile(sorted, 90)
	}
	return st
}

// average is the mean of the last n samples (fewer when fewer were taken).
func (c *connStats) average(n int64) float64 {
	n = min(n, c.nSamples)
	if n == 0 {
		return 0
	}
	var sum int64
	for i := c.nSamples - n; i < c.nSamples; i++ {
		sum += int64(c.samples[i%openWindow])
	}
	return float64(sum) / float64(n)
}

// percentile returns the nearest-rank p-th percentile of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
