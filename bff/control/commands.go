package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/proto"
)

// Error codes of session commands.
const (
	CodeRemoteManagementDisabled = "ERR_EDGEWAY_REMOTE_MANAGEMENT_DISABLED"
	CodeEdgeUnavailable          = "ERR_EDGEWAY_EDGE_UNAVAILABLE"
	CodeAgentCommandFailed       = "ERR_EDGEWAY_AGENT_COMMAND_FAILED"
)

// Command sends stop or restart to the agent of a session of the account, through the edge
// holding it, and waits for the agent's answer.
func (s *Server) Command(ctx context.Context, accountID, sessionID, action, reason string) error {
	sess, err := s.store.Session(ctx, accountID, sessionID)
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("Agent session %s was not found in this account; it may have ended.", sessionID))
	}
	if err != nil {
		return httperr.Internal(err)
	}
	if !sess.RemoteManagement {
		return httperr.New(http.StatusConflict, CodeRemoteManagementDisabled,
			fmt.Sprintf("The agent of session %s has remote management disabled (remote_management: false in its config), so it cannot be %s remotely.", sessionID, pastTense(action)))
	}
	unavailable := httperr.New(http.StatusServiceUnavailable, CodeEdgeUnavailable,
		fmt.Sprintf("The %s edge holding session %s is not connected to the control plane right now; try again in a few seconds.", sess.Region, sessionID))
	ec := s.edge(sess.EdgeID)
	if ec == nil {
		// Another bff replica may hold the edge's channel: relay the command there.
		bff, connected, err := s.store.EdgeBff(ctx, sess.EdgeID)
		if err != nil || !connected || bff == s.cfg.BffID || s.relay == nil {
			return unavailable
		}
		return s.relay.send(ctx, bff, accountID, sessionID, action, reason)
	}
	return s.commandLocal(ctx, ec, sessionID, action, reason)
}

// commandLocal sends a command to an edge connected to this replica and waits for the answer.
func (s *Server) commandLocal(ctx context.Context, ec *edgeConn, sessionID, action, reason string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var res proto.CommandResult
	err := proto.Call(cctx, ec.mux, proto.TypeSessionCommand, proto.SessionCommand{SessionID: sessionID, Action: action, Reason: reason}, &res)
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return fromProto(err, sessionID)
	}
	return nil
}

// CredentialRevoked stops every live session signed in with a revoked credential.
func (s *Server) CredentialRevoked(ctx context.Context, accountID, credentialID string) {
	sessions, err := s.store.SessionsOfCredential(ctx, accountID, credentialID)
	if err != nil {
		s.log.Error("list sessions of revoked credential", "credential_id", credentialID, "err", err)
		return
	}
	for _, sess := range sessions {
		ec := s.edge(sess.EdgeID)
		if ec == nil {
			continue
		}
		// Revocation does not depend on the agent's remote_management: the edge ends the session.
		go s.revoke(context.WithoutCancel(ctx), ec, sess.ID)
	}
}

// revoke tells an edge to end a session whose authtoken was revoked.
func (s *Server) revoke(ctx context.Context, ec *edgeConn, sessionID string) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var res proto.CommandResult
	err := proto.Call(cctx, ec.mux, proto.TypeSessionCommand,
		proto.SessionCommand{SessionID: sessionID, Action: proto.ActionRevoke, Reason: "its authtoken was revoked"}, &res)
	if err != nil {
		s.log.Warn("disconnect session of revoked credential", "session_id", sessionID, "err", err)
	}
}

// toProto turns a domain error into an error the edge can pass to the agent.
func toProto(err error) error {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe
	}
	if e, ok := httperr.As(err); ok && e.Status < 500 {
		code := proto.CodeBindDenied
		switch e.Code {
		case "ERR_EDGEWAY_322":
			code = proto.CodeDomainOtherRegion
		case "ERR_EDGEWAY_311":
			code = proto.CodeAddrOtherRegion
		}
		out := proto.Errorf(code, "%s", e.Msg)
		// The agent follows Details["region"]: the region that holds the reservation.
		if r, ok := e.Details["reserved_region"].(string); ok {
			out.Details = map[string]string{"region": r}
		}
		return out
	}
	return proto.Errorf(proto.CodeInternal, "the bff could not check the bind; try again")
}

// fromProto turns an edge's or agent's answer into an HTTP error for the dashboard and API.
func fromProto(err error, sessionID string) error {
	var pe *proto.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case proto.CodeRemoteManagementDisabled:
			return httperr.New(http.StatusConflict, CodeRemoteManagementDisabled, "The agent refused: "+pe.Msg)
		case proto.CodeTunnelNotFound, proto.CodeSessionNotFound:
			return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("Agent session %s has already ended.", sessionID))
		}
		return httperr.Wrap(err, http.StatusBadGateway, CodeAgentCommandFailed, "The agent did not carry out the command: "+pe.Msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return httperr.Wrap(err, http.StatusGatewayTimeout, CodeAgentCommandFailed, "The agent did not answer within 10 seconds.")
	}
	return httperr.Wrap(err, http.StatusBadGateway, CodeEdgeUnavailable, "The edge holding the session could not be reached.")
}
