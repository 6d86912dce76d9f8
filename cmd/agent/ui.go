package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

// statusUI prints the agent's status as aligned "Label   value" lines.
type statusUI struct {
	mu    sync.Mutex
	out   io.Writer
	local string
	proto string
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
		code := region.Code(s.Region())
		u.line("Session Status", "online")
		u.line("Session", s.ID())
		u.line("Region", fmt.Sprintf("%s (%s)", code.Name(), code))
		for _, t := range s.Tunnels() {
			to := t.LocalAddr
			if u.proto == proto.ProtoHTTP {
				to = "http://" + to
			}
			u.line("Forwarding", t.PublicURL+" -> "+to)
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
