package control

import (
	"context"
	"time"

	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/pg"
)

// Event types of agent sessions, as in the reference.
const (
	EventSessionStart = "agent_session_start.v0"
	EventSessionStop  = "agent_session_stop.v0"
)

// ref is {id} of another object in an event.
type ref struct {
	ID string `json:"id"`
}

// sessionEvent is the object of agent session events, with the reference's fields.
type sessionEvent struct {
	Session         ref        `json:"session"`
	Credential      ref        `json:"credential"`
	AgentIP         string     `json:"agent_ip"`
	IngressServerIP string     `json:"ingress_server_ip"`
	Region          string     `json:"region"`
	UserAgent       string     `json:"user_agent"`
	Metadata        string     `json:"metadata"`
	OS              string     `json:"os"`
	Arch            string     `json:"arch"`
	Transport       string     `json:"transport"`
	StartedAt       time.Time  `json:"started_at"`
	StoppedAt       *time.Time `json:"stopped_at"`
	Error           string     `json:"error"`
}

// writeSessionEvent records a session start or stop in the same transaction as the change, so
// the event exists exactly when the change does. Session events have no principal.
func writeSessionEvent(ctx context.Context, db pg.DB, typ string, s Session, stopErr string) error {
	ev := sessionEvent{Session: ref{s.ID}, Credential: ref{s.CredentialID}, AgentIP: s.IP, IngressServerIP: s.EdgeID,
		Region: s.Region, UserAgent: "edgeway-agent/" + s.AgentVersion, Metadata: s.Metadata, OS: s.OS, Arch: s.Arch,
		Transport: s.Transport, StartedAt: s.StartedAt.UTC(), Error: stopErr}
	if typ == EventSessionStop {
		now := time.Now().UTC()
		ev.StoppedAt = &now
	}
	return audit.Write(ctx, db, web.Principal{AccountID: s.AccountID}, typ, s.ID, ev)
}
