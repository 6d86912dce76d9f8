package main

import (
	"context"

	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/proto"
)

// rejectAll refuses every agent until the bff control channel provides
// real authentication; -dev-authtoken replaces it in development.
type rejectAll struct{}

func (rejectAll) Authenticate(context.Context, edge.AuthRequest) (edge.Grant, error) {
	return edge.Grant{}, proto.Errorf(proto.CodeAuthFailed,
		"this edge cannot check authtokens yet (no bff connection and no -dev-authtoken)")
}
