package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/region"
)

// statusEvery is how often the status view checks the session counters
// (tests shorten it).
var statusEvery = 2 * time.Second

// statusUI prints the agent's status as aligned "Label   value" lines.
type statusUI struct {
	mu    sync.Mutex
	out   io.Writer
	every time.Duration // how often to check the counters; 0 means 2s
}

// watch prints a "Connections" line whenever the session's counters
// changed, at most every few seconds, until the session ends.
func (u *statusUI) watch(s *agent.Session) {
	every := u.every
	if every == 0 {
		every = 2 * time.Second
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var last agent.Stats
		for {
			select {
			case <-s.Done():
				return
			case <-t.C:
			}
			st := s.Stats()
			if st.Total != last.Total || st.Open != last.Open {
				u.line("Connections", fmt.Sprintf("total %d, open %d, edge latency %s", st.Total, st.Open, fmtLatency(st.Latency)))
				last = st
			}
		}
	}()
}

func (u *statusUI) line(label, value string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(u.out, "%-18s%s\n", label, value)
}

func (u *statusUI) event(e agent.Event) {
	switch e.Type {
	case agent.EventConnected:
		s := e.Session
		u.watch(s)
		code := region.Code(s.Region())
		u.line("Session Status", "online")
		u.line("Session", s.ID())
		u.line("Region", fmt.Sprintf("%s (%s)", code.Name(), code))
		for _, t := range s.Tunnels() {
			if t.HTTPSURL != "" {
				u.line("Forwarding", t.HTTPSURL+" -> "+t.ForwardsTo())
			}
			u.line("Forwarding", t.PublicURL+" -> "+t.ForwardsTo())
		}
	case agent.EventDisconnected:
		if e.Err != nil {
			u.line("Session Status", "offline: "+e.Err.Error())
		}
	case agent.EventReconnecting:
		u.line("Session Status", fmt.Sprintf("reconnecting in %s", e.Delay.Round(10*time.Millisecond)))
	}
}

func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
