package edge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestHTTPLatencyAtFixedRate sends requests at a fixed rate directly and
// through an in-process edge and agent and reports p50/p99 latency and the
// latency the tunnel adds. Set EDGEWAY_LATENCY_RPS (such as 1000) to run.
func TestHTTPLatencyAtFixedRate(t *testing.T) {
	rps, _ := strconv.Atoi(os.Getenv("EDGEWAY_LATENCY_RPS"))
	if rps == 0 {
		t.Skip("set EDGEWAY_LATENCY_RPS to run")
	}
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer local.Close()
	te := startEdge(t)
	sess := te.connect(t, httpLocal(local.Listener.Addr().String()))

	measure := func(c *http.Client, url string) (p50, p99 time.Duration) {
		const seconds = 3
		n := rps * seconds
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		for i := 0; i < n; i++ {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(start)
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return lat[n/2], lat[n*99/100]
	}
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	d50, d99 := measure(direct, local.URL)
	e50, e99 := measure(te.client(t), sess.Tunnels()[0].PublicURL)
	t.Logf("%d req/s: direct p50 %v p99 %v; through edge+agent p50 %v p99 %v; added p50 %v p99 %v",
		rps, d50, d99, e50, e99, e50-d50, e99-d99)
}
