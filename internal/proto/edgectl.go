package proto

// The edge control channel: each edge dials the bff (TLS + yamux; the edge is the yamux client).
//
//   - The edge opens a TypeEdgeHello call first: EdgeHello -> EdgeWelcome. The hello carries the
//     shared edge token; the bff refuses edges without it.
//   - Then one long-lived TypeEdgeControl stream, opened with an EdgeSnapshot of everything the
//     edge serves (so a reconnect reconciles), carrying pushes from the edge: TypeSessionStarted,
//     TypeSessionEnded, TypeTunnelStarted, TypeTunnelEnded, and TypeEdgeHeartbeat both ways.
//   - Calls from the edge: TypeAgentAuth (may this agent start a session?) and TypeBindCheck
//     (may this session bind this name in this region?).
//   - Calls from the bff: TypeSessionCommand (stop, restart or revoke an agent session).
//   - Pushes from the bff on the control stream: TypeIPPolicies (accounts' endpoint IP
//     restrictions: all those of the accounts the edge serves right after its snapshot, then
//     each account's on every change). AgentAuthResponse.IPPolicy carries the account's one
//     with the sign-in grant, so it is in force before the session binds.
//
// Numbers 32 and up belong to the edge control channel; 1-31 to agent <-> edge.

// Edge control channel frame types. Never renumber; add new types at the end.
const (
	// TypeEdgeHello opens a call (edge to bff): EdgeHello -> EdgeWelcome.
	TypeEdgeHello Type = 32
	// TypeEdgeControl opens the long-lived control stream (edge to bff) with an EdgeSnapshot.
	TypeEdgeControl Type = 33
	// TypeAgentAuth opens a call (edge to bff): AgentAuthRequest -> AgentAuthResponse.
	TypeAgentAuth Type = 34
	// TypeBindCheck opens a call (edge to bff): BindCheckRequest -> BindCheckResponse.
	TypeBindCheck Type = 35
	// TypeSessionStarted is a control push (edge to bff) with a SessionInfo.
	TypeSessionStarted Type = 36
	// TypeSessionEnded is a control push (edge to bff) with a SessionEnded.
	TypeSessionEnded Type = 37
	// TypeTunnelStarted is a control push (edge to bff) with a TunnelInfo.
	TypeTunnelStarted Type = 38
	// TypeTunnelEnded is a control push (edge to bff) with a TunnelEnded.
	TypeTunnelEnded Type = 39
	// TypeEdgeHeartbeat is a control message in both directions with a Heartbeat.
	TypeEdgeHeartbeat Type = 40
	// TypeSessionCommand opens a call (bff to edge): SessionCommand -> CommandResult.
	TypeSessionCommand Type = 41
	// TypeIPPolicies is a control push (bff to edge) with an IPPolicies: the compiled endpoint
	// IP restrictions of some accounts. Sent after the edge's snapshot (for the accounts it
	// serves) and whenever an account's restrictions change.
	TypeIPPolicies Type = 42
)

func init() {
	for t, n := range map[Type]string{
		TypeEdgeHello: "edge_hello", TypeEdgeControl: "edge_control", TypeAgentAuth: "agent_auth",
		TypeBindCheck: "bind_check", TypeSessionStarted: "session_started", TypeSessionEnded: "session_ended",
		TypeTunnelStarted: "tunnel_started", TypeTunnelEnded: "tunnel_ended", TypeEdgeHeartbeat: "edge_heartbeat",
		TypeSessionCommand: "session_command", TypeIPPolicies: "ip_policies",
	} {
		typeNames[t] = n
	}
}

// More stable codes used on the control channel.
const (
	// CodeAgentIPBlocked: the agent's IP is denied by an agent IP restriction (115).
	CodeAgentIPBlocked = "ERR_AGENT_IP_BLOCKED"
	// CodeEndpointIPBlocked: a visitor's IP is denied by the account's endpoint IP restriction.
	CodeEndpointIPBlocked = "ERR_EDGEWAY_IP_BLOCKED"
	// CodeSessionLimit: the account's plan allows no more agent sessions.
	CodeSessionLimit = "ERR_SESSION_LIMIT"
	// CodeSessionNotFound: the edge holds no such session.
	CodeSessionNotFound = "ERR_SESSION_NOT_FOUND"
	// CodeUnavailable: the bff cannot be reached; the agent should retry.
	CodeUnavailable = "ERR_UNAVAILABLE"
)

// EdgeHello introduces an edge to the bff.
type EdgeHello struct {
	// Version is the edge's capability version.
	Version int `json:"version"`
	// Token is the shared edge secret the bff is configured with; without it the bff refuses.
	Token string `json:"token"`
	// EdgeID is random per edge process ("edge_us_..."); sessions are recorded under it.
	EdgeID string `json:"edge_id"`
	// Region is the region code the edge serves.
	Region string `json:"region"`
	// HTTPAddr, HTTPSAddr and AgentAddr are the edge's public listeners.
	HTTPAddr  string `json:"http_addr,omitempty"`
	HTTPSAddr string `json:"https_addr,omitempty"`
	AgentAddr string `json:"agent_addr,omitempty"`
	// BaseDomain is the parent domain of the edge's random hostnames.
	BaseDomain string `json:"base_domain,omitempty"`
	// TCPPorts is the edge's TCP endpoint range, "FIRST-LAST".
	TCPPorts string `json:"tcp_ports,omitempty"`
}

// EdgeWelcome answers EdgeHello.
type EdgeWelcome struct {
	// Version is the bff's capability version.
	Version int `json:"version"`
	// BffID identifies the bff process holding this edge's channel.
	BffID string `json:"bff_id"`
	// HeartbeatMillis is how often the edge must send a heartbeat.
	HeartbeatMillis int64 `json:"heartbeat_ms"`
}

// AgentAuthRequest asks the bff whether an agent may start a session.
type AgentAuthRequest struct {
	// Auth is the agent's own authentication request.
	Auth AuthRequest `json:"auth"`
	// RemoteAddr is the agent's address as the edge sees it ("ip:port").
	RemoteAddr string `json:"remote_addr"`
}

// AgentAuthResponse grants a session.
type AgentAuthResponse struct {
	// SessionID is the new session's id ("ts_...").
	SessionID    string `json:"session_id"`
	AccountID    string `json:"account_id"`
	CredentialID string `json:"credential_id"`
	// ACL lists the credential's "bind:" rules; empty allows everything.
	ACL []string `json:"acl,omitempty"`
	// IPPolicy is the account's endpoint IP restriction (nil from older bffs), in force on the
	// edge before the session binds anything.
	IPPolicy *IPPolicySet `json:"ip_policy,omitempty"`
}

// IPPolicies carries compiled endpoint IP restrictions (TypeIPPolicies).
type IPPolicies struct {
	// Full replaces every restriction the edge holds (the answer to its snapshot); otherwise the
	// listed accounts' are replaced and the others kept.
	Full     bool          `json:"full,omitempty"`
	Accounts []IPPolicySet `json:"accounts"`
}

// IPPolicySet is one account's endpoint IP restriction, ready for ipmatch. An empty
// RestrictionID means the account has none: every visitor passes.
type IPPolicySet struct {
	AccountID     string `json:"account_id"`
	RestrictionID string `json:"restriction_id,omitempty"`
	// Enforced: denied visitors are refused; otherwise they pass and the decision is logged.
	Enforced bool           `json:"enforced"`
	Rules    []IPPolicyRule `json:"rules,omitempty"`
}

// IPPolicyRule is one rule of an IPPolicySet.
type IPPolicyRule struct {
	ID       string `json:"id,omitempty"`
	PolicyID string `json:"policy_id,omitempty"`
	// CIDR is a network ("192.0.2.0/24", "2001:db8::/32").
	CIDR string `json:"cidr"`
	// Action is "allow" or "deny".
	Action string `json:"action"`
}

// BindCheckRequest asks whether a session may bind a requested name in the edge's region.
type BindCheckRequest struct {
	AccountID string `json:"account_id"`
	SessionID string `json:"session_id"`
	// Proto is ProtoHTTP or ProtoTCP.
	Proto string `json:"proto"`
	// Name is the hostname (HTTP) or host:port (TCP) asked for.
	Name string `json:"name"`
}

// BindCheckResponse allows a bind. Refusals come back as *Error: CodeDomainOtherRegion or
// CodeAddrOtherRegion with Details["region"] = the region holding the reservation, or
// CodeBindDenied (reserved by another account).
type BindCheckResponse struct {
	// Reserved reports whether the name is reserved by the session's account.
	Reserved bool `json:"reserved"`
}

// SessionInfo describes a live agent session.
type SessionInfo struct {
	ID               string `json:"id"`
	AccountID        string `json:"account_id"`
	CredentialID     string `json:"credential_id"`
	ClientID         string `json:"client_id,omitempty"`
	AgentVersion     string `json:"agent_version,omitempty"`
	OS               string `json:"os,omitempty"`
	Arch             string `json:"arch,omitempty"`
	Hostname         string `json:"hostname,omitempty"`
	Metadata         string `json:"metadata,omitempty"`
	RemoteAddr       string `json:"remote_addr"`
	Transport        string `json:"transport,omitempty"`
	RemoteManagement bool   `json:"remote_management"`
	StartedUnixMilli int64  `json:"started_ms"`
}

// SessionEnded reports that a session ended.
type SessionEnded struct {
	ID string `json:"id"`
	// Error says why, when it ended on an error (empty on a clean stop).
	Error string `json:"error,omitempty"`
}

// TunnelInfo describes a live tunnel of a session.
type TunnelInfo struct {
	ID               string `json:"id"`
	SessionID        string `json:"session_id"`
	Proto            string `json:"proto"`
	PublicURL        string `json:"public_url"`
	ForwardsTo       string `json:"forwards_to,omitempty"`
	Metadata         string `json:"metadata,omitempty"`
	StartedUnixMilli int64  `json:"started_ms"`
}

// TunnelEnded reports that a tunnel closed.
type TunnelEnded struct {
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
}

// EdgeSnapshot is everything an edge serves, sent when its control stream opens.
type EdgeSnapshot struct {
	Sessions []SessionInfo `json:"sessions"`
	Tunnels  []TunnelInfo  `json:"tunnels"`
}

// Session command actions.
const (
	// ActionStop: the agent is told to exit; it may refuse (remote management disabled).
	ActionStop = "stop"
	// ActionRestart: the agent re-executes itself and returns with a new session.
	ActionRestart = "restart"
	// ActionRevoke: the edge ends the session whatever the agent's settings (its authtoken was
	// revoked); the agent is told why.
	ActionRevoke = "revoke"
)

// SessionCommand asks the edge to act on one of its agent sessions. The answer is a
// CommandResult: the agent's own answer for stop and restart.
type SessionCommand struct {
	SessionID string `json:"session_id"`
	// Action is ActionStop, ActionRestart or ActionRevoke.
	Action string `json:"action"`
	// Reason is shown to the agent's user, such as "stopped from the dashboard by ada@example.com".
	Reason string `json:"reason,omitempty"`
}
