// Package proto is the wire protocol spoken between agents, edges and the
// bff.
//
// A connection is TLS (plain TCP only in tests and explicit local
// development) carrying a yamux session, configured by MuxConfig. Every
// yamux stream starts with one frame (see ReadFrame) whose type says what
// the stream is for:
//
//   - Call streams carry exactly one request/response exchange: the opener
//     writes a request frame, the acceptor answers with a frame of the same
//     type or a TypeError frame, and both close (see Call and Router).
//   - The control stream is long-lived: heartbeats and pushes travel on it
//     in both directions, dispatched by type (see Control).
//   - Proxy streams carry one upstream connection: a TypeProxy header frame
//     from the edge, a TypeProxy acknowledgement or TypeError frame from the
//     agent, then raw bytes in both directions.
//
// Types are numbered and append-only: a number is never reused or
// renumbered, and a peer ignores control messages whose type it does not
// know. Bodies are JSON objects; unknown fields are ignored so both sides
// can grow independently. Capabilities are negotiated with Version.
package proto

import "strconv"

// Version is the capability version this build speaks. Peers exchange it
// in AuthRequest / AuthResponse; the higher side adapts to the lower.
//
// History (append only):
//
//	1 (2026-11-26): initial protocol: auth, bind, unbind, control stream
//	  with heartbeat, stop, restart and drain pushes, proxy streams, and
//	  unauthenticated probe calls for region choice (agent <-> edge);
//	  the edge <-> bff control channel (edgectl.go).
const Version = 1

// MinVersion is the oldest capability version a peer may announce.
const MinVersion = 1

// Type identifies a frame and, for the first frame of a stream, the kind of
// stream. Numbers are append-only: never renumber or reuse one. 1-31 belong
// to the agent <-> edge protocol, 32 and up to the edge <-> bff control
// channel.
type Type uint16

// Frame types. Never renumber; add new types at the end.
const (
	// TypeError carries an Error in answer to any request.
	TypeError Type = 1
	// TypeAuth opens a call: AuthRequest -> AuthResponse. Agent to edge;
	// it must be the first stream of an agent session.
	TypeAuth Type = 2
	// TypeBind opens a call: BindRequest -> BindResponse. Agent to edge.
	TypeBind Type = 3
	// TypeUnbind opens a call: UnbindRequest -> UnbindResponse. Agent to edge.
	TypeUnbind Type = 4
	// TypeControl opens the long-lived control stream with a ControlHello.
	// Agent to edge, once per session.
	TypeControl Type = 5
	// TypeHeartbeat is a control message in both directions: the agent
	// sends one every interval and the edge echoes it back.
	TypeHeartbeat Type = 6
	// TypeProxy opens a proxy stream (edge to agent) with a ProxyHeader;
	// the agent answers with a TypeProxy frame carrying a ProxyAck, or a
	// TypeError, then raw bytes follow.
	TypeProxy Type = 7
	// TypeStop is a control push (edge to agent): the agent stops and exits.
	TypeStop Type = 8
	// TypeRestart is a control push (edge to agent): the agent re-executes
	// itself and comes back with a new session.
	TypeRestart Type = 9
	// TypeDrain is a control push (edge to agent): the edge is shutting
	// down; the agent should reconnect, possibly elsewhere.
	TypeDrain Type = 10
	// TypeCommandResult is a control message (agent to edge) answering a
	// TypeStop or TypeRestart push.
	TypeCommandResult Type = 11
	// TypeProbe opens a call: ProbeRequest -> ProbeResponse. Agent to edge,
	// allowed before auth; agents measure its round trip to pick the
	// closest region.
	TypeProbe Type = 12
)

var typeNames = map[Type]string{
	TypeError:         "error",
	TypeAuth:          "auth",
	TypeBind:          "bind",
	TypeUnbind:        "unbind",
	TypeControl:       "control",
	TypeHeartbeat:     "heartbeat",
	TypeProxy:         "proxy",
	TypeStop:          "stop",
	TypeRestart:       "restart",
	TypeDrain:         "drain",
	TypeCommandResult: "command_result",
	TypeProbe:         "probe",
}

// String returns the type's snake_case name, or "type_N" for unknown types.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type_" + strconv.Itoa(int(t))
}

// Tunnel protocols.
const (
	ProtoHTTP = "http"
	ProtoTCP  = "tcp"
)

// AuthRequest is the first call of an agent session.
type AuthRequest struct {
	// Version is the agent's capability version.
	Version int `json:"version"`
	// Authtoken is the credential's secret token.
	Authtoken string `json:"authtoken"`
	// ClientID is random per agent process and stable across its
	// reconnects; an edge replaces a session with the same ClientID at
	// once instead of reporting its names as already online.
	ClientID string `json:"client_id"`
	// AgentVersion is the agent's software version.
	AgentVersion string `json:"agent_version,omitempty"`
	// OS and Arch describe the agent's platform (runtime.GOOS, GOARCH).
	OS   string `json:"os,omitempty"`
	Arch string `json:"arch,omitempty"`
	// Hostname is the name of the machine the agent runs on (for display).
	Hostname string `json:"hostname,omitempty"`
	// Metadata is free-form, user-supplied text (at most 4096 bytes).
	Metadata string `json:"metadata,omitempty"`
	// RemoteManagement reports whether the agent accepts remote stop and
	// restart commands.
	RemoteManagement bool `json:"remote_management"`
}

// AuthResponse answers an AuthRequest.
type AuthResponse struct {
	// Version is the edge's capability version.
	Version int `json:"version"`
	// SessionID identifies the agent session (prefix "ts_").
	SessionID string `json:"session_id"`
	// Region is the edge's region code.
	Region string `json:"region"`
	// HeartbeatMillis is how often the agent must send a heartbeat.
	HeartbeatMillis int64 `json:"heartbeat_ms"`
}

// BindRequest asks the edge for a public endpoint.
type BindRequest struct {
	// Proto is ProtoHTTP or ProtoTCP.
	Proto string `json:"proto"`
	// Name is the agent's name for the tunnel (for display only).
	Name string `json:"name,omitempty"`
	// Domain asks for a hostname (HTTP only): a bare label becomes a
	// subdomain of the edge's base domain; empty means random.
	Domain string `json:"domain,omitempty"`
	// RemoteAddr asks for a TCP address, "host:port" or ":port"; empty
	// means any free port of the edge's range.
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Pooling allows sharing the endpoint with other sessions that also
	// ask for pooling; the edge balances connections between them.
	Pooling bool `json:"pooling,omitempty"`
	// ForwardsTo describes the local service, such as "http://localhost:8080".
	ForwardsTo string `json:"forwards_to,omitempty"`
	// Metadata is free-form, user-supplied text.
	Metadata string `json:"metadata,omitempty"`
}

// BindResponse answers a BindRequest.
type BindResponse struct {
	// TunnelID identifies the binding within the session; proxy streams
	// carry it.
	TunnelID string `json:"tunnel_id"`
	// Proto is the bound protocol.
	Proto string `json:"proto"`
	// PublicURL is where visitors reach the tunnel, such as
	// "http://abc123.us.localhost:8080" or "tcp://us.localhost:20001".
	PublicURL string `json:"public_url"`
	// HTTPSURL is the same HTTP endpoint over TLS, when the edge serves
	// HTTPS.
	HTTPSURL string `json:"https_url,omitempty"`
}

// UnbindRequest releases a tunnel.
type UnbindRequest struct {
	TunnelID string `json:"tunnel_id"`
}

// UnbindResponse answers an UnbindRequest.
type UnbindResponse struct{}

// ControlHello opens the control stream.
type ControlHello struct{}

// Heartbeat is sent by the agent every interval and echoed by the edge.
type Heartbeat struct {
	// SentUnixNano is the sender's clock when the agent sent it.
	SentUnixNano int64 `json:"sent_unix_nano"`
}

// Command is the body of TypeStop, TypeRestart and TypeDrain pushes.
type Command struct {
	// ID identifies the command so the agent can answer it.
	ID string `json:"id,omitempty"`
	// Reason is shown to the user, such as "stopped from the dashboard".
	Reason string `json:"reason,omitempty"`
}

// CommandResult answers a Command.
type CommandResult struct {
	ID string `json:"id"`
	// Error is set when the agent refused or failed the command.
	Error *Error `json:"error,omitempty"`
}

// ProxyHeader opens a proxy stream.
type ProxyHeader struct {
	// TunnelID is the tunnel the connection arrived on.
	TunnelID string `json:"tunnel_id"`
	// ClientAddr is the visitor's address ("ip:port").
	ClientAddr string `json:"client_addr,omitempty"`
	// Proto is the tunnel's protocol.
	Proto string `json:"proto"`
}

// ProxyAck tells the edge the agent reached the local service; raw bytes
// follow it.
type ProxyAck struct{}

// ProbeRequest asks an edge who it is; it may precede auth.
type ProbeRequest struct{}

// ProbeResponse answers a ProbeRequest.
type ProbeResponse struct {
	// Region is the edge's region code.
	Region string `json:"region"`
	// Version is the edge's capability version.
	Version int `json:"version"`
}
