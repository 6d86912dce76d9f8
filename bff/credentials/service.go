// Package credentials manages tunnel credentials (authtokens): created with a token shown once and
// stored hashed, restricted by "bind:" ACL rules, revoked by deletion. Agents authenticate with
// them through the edges.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/secret"
	"github.com/jackc/pgx/v5"
)

// TokenPrefix starts every authtoken.
const TokenPrefix = "ewt_"

// Revoker disconnects the live agents of a revoked credential. The control plane implements it.
type Revoker interface {
	CredentialRevoked(ctx context.Context, accountID, credentialID string)
}

// Service implements credential rules.
type Service struct {
	log     *slog.Logger
	store   *Store
	revoker Revoker
}

// NewService returns a Service; revoker may be nil until a control plane exists.
func NewService(log *slog.Logger, store *Store, revoker Revoker) *Service {
	return &Service{log: log, store: store, revoker: revoker}
}

// Created is a new credential with its token, which is never available again.
type Created struct {
	Credential
	Token string
}

// Input is what create and update accept; nil fields are left unchanged on update.
type Input struct {
	Description *string
	Metadata    *string
	ACL         []string // nil: unchanged; empty: no restriction
}

func (in *Input) validate() error {
	errs := apikeys.ValidateFields(in.Description, in.Metadata)
	if in.ACL != nil {
		acl, problems := ValidateACL(in.ACL)
		if len(problems) > 0 {
			errs["acl"] = strings.Join(problems, "; ")
		}
		if acl == nil {
			acl = []string{}
		}
		in.ACL = acl
	}
	if len(errs) > 0 {
		return httperr.Validation("The authtoken could not be saved.", errs)
	}
	return nil
}

// Create makes a credential owned by the acting user.
func (s *Service) Create(ctx context.Context, p web.Principal, in Input) (Created, error) {
	if in.ACL == nil {
		in.ACL = []string{}
	}
	if err := in.validate(); err != nil {
		return Created{}, err
	}
	sec := secret.New(TokenPrefix)
	owner := p.UserID
	c := Credential{ID: ids.New(ids.Credential), AccountID: p.AccountID, OwnerID: &owner, TokenPrefix: sec.Display,
		Description: deref(in.Description), Metadata: deref(in.Metadata), ACL: in.ACL}
	err := s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		var err error
		if c, err = st.Create(ctx, c, sec.Hash); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.TunnelCredentialCreated, c.ID, auditObject(c))
	})
	if err != nil {
		return Created{}, httperr.Internal(err)
	}
	s.log.InfoContext(ctx, "credential created", "account_id", p.AccountID, "user_id", p.UserID, "credential_id", c.ID)
	return Created{Credential: c, Token: sec.Token}, nil
}

// List returns a page of the account's credentials.
func (s *Service) List(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Credential, error) {
	cs, err := s.store.List(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return cs, nil
}

// Get returns one credential.
func (s *Service) Get(ctx context.Context, p web.Principal, id string) (Credential, error) {
	c, err := s.store.Get(ctx, p.AccountID, id)
	return c, notFound(err, id)
}

// Update changes description, metadata or ACL. A changed ACL applies to new binds.
func (s *Service) Update(ctx context.Context, p web.Principal, id string, in Input) (Credential, error) {
	if err := in.validate(); err != nil {
		return Credential{}, err
	}
	var c Credential
	err := s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		var err error
		if c, err = st.Update(ctx, p.AccountID, id, in.Description, in.Metadata, in.ACL); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.TunnelCredentialUpdated, c.ID, auditObject(c))
	})
	return c, notFound(err, id)
}

// Delete revokes a credential: agents can no longer sign in with it, and live ones are disconnected.
func (s *Service) Delete(ctx context.Context, p web.Principal, id string) error {
	err := s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		c, err := st.Get(ctx, p.AccountID, id)
		if err != nil {
			return err
		}
		if err := st.Delete(ctx, p.AccountID, id); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.TunnelCredentialDeleted, id, auditObject(c))
	})
	if err := notFound(err, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "credential revoked", "account_id", p.AccountID, "user_id", p.UserID, "credential_id", id)
	if s.revoker != nil {
		s.revoker.CredentialRevoked(ctx, p.AccountID, id)
	}
	return nil
}

// ErrInvalidToken is returned by Authenticate for unknown or revoked tokens.
var ErrInvalidToken = errors.New("the authtoken is not valid: it may have been revoked")

// Authenticate finds the credential of an agent's authtoken.
func (s *Service) Authenticate(ctx context.Context, token string) (Credential, error) {
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return Credential{}, ErrInvalidToken
	}
	c, err := s.store.ByHash(ctx, secret.Hash(token))
	if errors.Is(err, pg.ErrNotFound) {
		return Credential{}, ErrInvalidToken
	}
	return c, err
}

// inTx runs fn with a store on one transaction, so a change and its audit event commit together.
func (s *Service) inTx(ctx context.Context, fn func(st *Store, tx pgx.Tx) error) error {
	return pg.InTx(ctx, s.store.db, func(tx pgx.Tx) error { return fn(NewStore(tx), tx) })
}

// auditObject is a credential as audit events record it (never its token).
func auditObject(c Credential) map[string]any {
	return map[string]any{"id": c.ID, "description": c.Description, "metadata": c.Metadata, "acl": c.ACL,
		"owner_id": c.OwnerID, "created_at": c.CreatedAt.UTC()}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func notFound(err error, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("Authtoken %s was not found in this account.", id))
	}
	if err != nil {
		return httperr.Internal(err)
	}
	return nil
}
