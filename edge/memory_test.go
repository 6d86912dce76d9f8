package edge_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/edgeway/edgeway/agent"
)

// TestIdleSessionMemory connects many idle agents (each with one HTTP
// tunnel) to one edge and reports memory per session, edge and agent side
// together, so the edge alone uses less. Set EDGEWAY_MEM_SESSIONS (such as
// 2000) to run it.
func TestIdleSessionMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EDGEWAY_MEM_SESSIONS"))
	if n == 0 {
		t.Skip("set EDGEWAY_MEM_SESSIONS to run")
	}
	te := startTLSEdge(t)
	measure := func() (heap, stack uint64) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.StackInuse
	}
	h0, s0 := measure()
	g0 := runtime.NumGoroutine()
	sessions := make([]*agent.Session, 0, n)
	for i := 0; i < n; i++ {
		cfg := te.agentConfig(httpLocal("127.0.0.1:1"))
		s, err := agent.Connect(context.Background(), cfg)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		sessions = append(sessions, s)
	}
	time.Sleep(500 * time.Millisecond)
	h1, s1 := measure()
	g1 := runtime.NumGoroutine()
	t.Logf("%d idle TLS sessions (edge + agent in one process): heap %.1f KiB/session, stacks %.1f KiB/session, %.1f goroutines/session; projected 10,000 sessions: %.0f MiB for both sides",
		n, float64(h1-h0)/float64(n)/1024, float64(s1-s0)/float64(n)/1024, float64(g1-g0)/float64(n),
		float64(h1-h0+s1-s0)/float64(n)*10000/(1<<20))
	for _, s := range sessions {
		_ = s.Close()
	}
}
