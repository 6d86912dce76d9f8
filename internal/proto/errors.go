package proto

import (
	"errors"
	"fmt"
)

// Stable error codes that cross the wire. Never change a code's meaning;
// add new ones instead. Numbers in comments are the hosted platform's
// matching codes.
const (
	// CodeAuthFailed: the authtoken is unknown, malformed or revoked.
	CodeAuthFailed = "ERR_AUTH_FAILED"
	// CodeNotAuthenticated: a stream other than auth arrived before auth.
	CodeNotAuthenticated = "ERR_NOT_AUTHENTICATED"
	// CodeVersionUnsupported: the peer's capability version is too old.
	CodeVersionUnsupported = "ERR_VERSION_UNSUPPORTED"
	// CodeBadFrame: a frame could not be decoded.
	CodeBadFrame = "ERR_BAD_FRAME"
	// CodeFrameTooLarge: a frame's body exceeds the limit.
	CodeFrameTooLarge = "ERR_FRAME_TOO_LARGE"
	// CodeUnknownType: a stream opened with a type the peer does not serve.
	CodeUnknownType = "ERR_UNKNOWN_TYPE"
	// CodeBadRequest: a request body is invalid (details in Msg).
	CodeBadRequest = "ERR_BAD_REQUEST"
	// CodeInternal: the peer failed; the message is deliberately generic.
	CodeInternal = "ERR_INTERNAL"
	// CodeDraining: the edge is shutting down and takes no new work.
	CodeDraining = "ERR_DRAINING"
	// CodeEndpointOnline: the name or address is already online (334).
	CodeEndpointOnline = "ERR_ENDPOINT_ALREADY_ONLINE"
	// CodeDomainInvalid: the requested domain is not valid on this edge.
	CodeDomainInvalid = "ERR_DOMAIN_INVALID"
	// CodeDomainOtherRegion: the domain is reserved in another region (322).
	CodeDomainOtherRegion = "ERR_DOMAIN_RESERVED_OTHER_REGION"
	// CodeAddrOtherRegion: the TCP address is reserved in another region (311).
	CodeAddrOtherRegion = "ERR_ADDR_RESERVED_OTHER_REGION"
	// CodePortOutOfRange: the requested TCP port is outside the edge's range.
	CodePortOutOfRange = "ERR_TCP_PORT_OUT_OF_RANGE"
	// CodeNoPortsFree: every TCP port of the edge's range is in use.
	CodeNoPortsFree = "ERR_TCP_NO_PORTS_FREE"
	// CodeBindDenied: the credential's ACL does not allow this bind.
	CodeBindDenied = "ERR_BIND_DENIED"
	// CodeTunnelNotFound: the tunnel id is unknown to the agent or edge.
	CodeTunnelNotFound = "ERR_TUNNEL_NOT_FOUND"
	// CodeUpstreamUnreachable: the agent could not reach its local service.
	CodeUpstreamUnreachable = "ERR_UPSTREAM_UNREACHABLE"
	// CodeRemoteManagementDisabled: the agent refuses remote stop/restart.
	CodeRemoteManagementDisabled = "ERR_REMOTE_MANAGEMENT_DISABLED"
)

// Error is an error that crosses the wire with a stable code.
type Error struct {
	// Code is one of the Code* constants.
	Code string `json:"code"`
	// Msg is a human-readable, client-safe explanation.
	Msg string `json:"msg"`
	// Details carries optional machine-readable context.
	Details map[string]string `json:"details,omitempty"`
}

// Error returns "CODE: msg".
func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the wire code of err if it is or wraps an *Error, and the
// empty string otherwise.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// toWire converts any error into the *Error sent to a peer. Errors that are
// not *Error become CodeInternal with a generic message so internal
// details never leak.
func toWire(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Msg: "internal error"}
}
