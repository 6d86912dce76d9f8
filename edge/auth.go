package edge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/proto"
)

// AuthRequest is what an Authenticator gets to decide on an agent.
type AuthRequest struct {
	// Auth is the agent's authentication call.
	Auth proto.AuthRequest
	// RemoteAddr is the agent's address as the edge sees it ("ip:port").
	RemoteAddr string
}

// Grant is a successful authentication.
type Grant struct {
	// SessionID identifies the new agent session ("ts_...").
	SessionID string
	// AccountID and CredentialID say who the agent acts for.
	AccountID    string
	CredentialID string
	// ACL lists "bind:" rules restricting what the session may bind; empty
	// allows everything.
	ACL []string
}

// Authenticator decides whether an agent may start a session. The bff
// implements it over the control channel; StaticTokens serves tests and
// development. Failures should be *proto.Error with proto.CodeAuthFailed
// (or another stable code) so the agent can say what went wrong.
type Authenticator interface {
	Authenticate(ctx context.Context, req AuthRequest) (Grant, error)
}

// StaticTokens is an Authenticator that accepts a fixed set of authtokens,
// mapping each to an account id.
type StaticTokens map[string]string

// Authenticate accepts req when its authtoken is one of the static tokens.
func (s StaticTokens) Authenticate(_ context.Context, req AuthRequest) (Grant, error) {
	tok := []byte(req.Auth.Authtoken)
	for t, account := range s {
		if t != "" && subtle.ConstantTimeCompare(tok, []byte(t)) == 1 {
			return Grant{SessionID: ids.New(ids.TunnelSession), AccountID: account, CredentialID: "cr_static"}, nil
		}
	}
	return Grant{}, proto.Errorf(proto.CodeAuthFailed, "the authtoken is not valid; check it or create a new one in the dashboard")
}

// NewID returns prefix followed by 20 random hex digits.
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
