package agent

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
)

func TestConnStatsCountersAndPercentiles(t *testing.T) {
	var c connStats
	t0 := time.Now()
	if st := c.read(t0, t0); st != (Stats{}) {
		t.Fatalf("fresh stats %+v", st)
	}
	for i := 1; i <= 10; i++ {
		c.begin()
		c.end(time.Duration(i) * time.Second)
	}
	c.begin()
	c.begin()
	st := c.read(t0, t0)
	if st.Total != 12 || st.Open != 2 || st.Completed != 10 {
		t.Fatalf("counters %+v", st)
	}
	// Nearest rank over 1s..10s.
	if st.P50 != 5*time.Second || st.P90 != 9*time.Second {
		t.Fatalf("p50 %v p90 %v, want 5s 9s", st.P50, st.P90)
	}
	// Only the last DurationWindow durations count.
	for i := 0; i < DurationWindow; i++ {
		c.begin()
		c.end(time.Minute)
	}
	if st := c.read(t0, t0); st.P50 != time.Minute || st.P90 != time.Minute || st.Completed != 10+DurationWindow {
		t.Fatalf("after the window filled: %+v", st)
	}
}

func TestConnStatsOpenAverages(t *testing.T) {
	var c connStats
	t0 := time.Now()
	approx := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

	c.read(t0, t0) // no whole second yet: no sample
	c.begin()
	c.begin()
	st := c.read(t0.Add(1500*time.Millisecond), t0) // one sample: 2 open
	if !approx(st.OpenAvg1m, 2) || !approx(st.OpenAvg5m, 2) {
		t.Fatalf("after 1s with 2 open: %+v", st)
	}
	c.end(time.Second)
	st = c.read(t0.Add(3*time.Second), t0) // two more samples of 1: (2+1+1)/3
	if !approx(st.OpenAvg1m, 4.0/3) || !approx(st.OpenAvg5m, 4.0/3) {
		t.Fatalf("after 3s: %+v", st)
	}
	// Ten minutes later with 1 open: both windows are full of 1s.
	st = c.read(t0.Add(10*time.Minute), t0)
	if !approx(st.OpenAvg1m, 1) || !approx(st.OpenAvg5m, 1) {
		t.Fatalf("after 10 minutes: %+v", st)
	}
	// Then 60 seconds with nothing open: the last minute averages 0, the
	// last five minutes 240/300.
	c.end(time.Second)
	st = c.read(t0.Add(11*time.Minute), t0)
	if !approx(st.OpenAvg1m, 0) || !approx(st.OpenAvg5m, 240.0/300) || st.Open != 0 {
		t.Fatalf("a minute idle: %+v", st)
	}
}

// TestConnStatsConcurrent exercises the counters from many goroutines
// (run with -race).
func TestConnStatsConcurrent(t *testing.T) {
	var c connStats
	t0 := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				c.begin()
				c.end(time.Millisecond)
				if i%50 == 0 {
					c.read(time.Now(), t0)
				}
			}
		}()
	}
	wg.Wait()
	if st := c.read(time.Now(), t0); st.Total != 4000 || st.Open != 0 || st.Completed != 4000 || st.P90 != time.Millisecond {
		t.Fatalf("%+v", st)
	}
}

func TestSessionLimitIsPermanent(t *testing.T) {
	err := proto.Errorf(proto.CodeSessionLimit, "plan limit reached")
	if !Permanent(err) {
		t.Fatal("ERR_SESSION_LIMIT is retried: the agent would reconnect forever while the account is full")
	}
}
