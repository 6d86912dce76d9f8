// Package apikeys manages API keys: created with a secret shown once, stored as a SHA-256 hash,
// acting with their owner's roles.
package apikeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/secret"
	"github.com/jackc/pgx/v5"
)

// TokenPrefix starts every API key secret, so leaked keys are easy to recognise and scan for.
const TokenPrefix = "ewk_"

// Field limits, as in the reference.
const (
	MaxDescription = 255
	MaxMetadata    = 4096
)

// Service implements API key rules.
type Service struct {
	log     *slog.Logger
	store   *Store
	viewers *auth.Store
}

// NewService returns a Service.
func NewService(log *slog.Logger, store *Store, viewers *auth.Store) *Service {
	return &Service{log: log, store: store, viewers: viewers}
}

// Created is a new key with its secret, which is never available again.
type Created struct {
	Key
	Token string
}

// ValidateFields checks description and metadata lengths.
func ValidateFields(description, metadata *string) map[string]string {
	errs := map[string]string{}
	if description != nil && len(*description) > MaxDescription {
		errs["description"] = fmt.Sprintf("description must be at most %d bytes (it has %d).", MaxDescription, len(*description))
	}
	if metadata != nil && len(*metadata) > MaxMetadata {
		errs["metadata"] = fmt.Sprintf("metadata must be at most %d bytes (it has %d).", MaxMetadata, len(*metadata))
	}
	return errs
}

// Create makes a key owned by the acting user.
func (s *Service) Create(ctx context.Context, p web.Principal, description, metadata string) (Created, error) {
	description = strings.TrimSpace(description)
	if errs := ValidateFields(&description, &metadata); len(errs) > 0 {
		return Created{}, httperr.Validation("The API key could not be created.", errs)
	}
	sec := secret.New(TokenPrefix)
	token := sec.Token
	k := Key{ID: ids.New(ids.APIKey), AccountID: p.AccountID, OwnerID: p.UserID,
		TokenPrefix: sec.Display, Description: description, Metadata: metadata}
	err := s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		if err := st.Create(ctx, k, sec.Hash); err != nil {
			return err
		}
		var err error
		if k, err = st.Get(ctx, p.AccountID, k.ID); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.APIKeyCreated, k.ID, auditObject(k))
	})
	if err != nil {
		return Created{}, httperr.Internal(err)
	}
	s.log.InfoContext(ctx, "api key created", "account_id", p.AccountID, "user_id", p.UserID, "api_key_id", k.ID)
	return Created{Key: k, Token: token}, nil
}

// List returns a page of the account's keys.
func (s *Service) List(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Key, error) {
	keys, err := s.store.List(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return keys, nil
}

// Get returns one key.
func (s *Service) Get(ctx context.Context, p web.Principal, id string) (Key, error) {
	k, err := s.store.Get(ctx, p.AccountID, id)
	return k, notFound(err, id)
}

// Update changes description and metadata.
func (s *Service) Update(ctx context.Context, p web.Principal, id string, description, metadata *string) (Key, error) {
	if errs := ValidateFields(description, metadata); len(errs) > 0 {
		return Key{}, httperr.Validation("The API key could not be updated.", errs)
	}
	var k Key
	err := s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		var err error
		if k, err = st.Update(ctx, p.AccountID, id, description, metadata); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.APIKeyUpdated, k.ID, auditObject(k))
	})
	return k, notFound(err, id)
}

// Delete removes a key; requests with it fail from then on.
func (s *Service) Delete(ctx context.Context, p web.Principal, id string) error {
	err := notFound(s.inTx(ctx, func(st *Store, tx pgx.Tx) error {
		k, err := st.Get(ctx, p.AccountID, id)
		if err != nil {
			return err
		}
		if err := st.Delete(ctx, p.AccountID, id); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.APIKeyDeleted, id, auditObject(k))
	}), id)
	if err == nil {
		s.log.InfoContext(ctx, "api key deleted", "account_id", p.AccountID, "user_id", p.UserID, "api_key_id", id)
	}
	return err
}

// Resolve turns a bearer token into the principal of its owner.
func (s *Service) Resolve(ctx context.Context, token string) (web.Principal, bool, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return web.Principal{}, false, nil
	}
	k, err := s.store.ByHash(ctx, secret.Hash(token))
	if errors.Is(err, pg.ErrNotFound) {
		return web.Principal{}, false, nil
	}
	if err != nil {
		return web.Principal{}, false, err
	}
	v, err := s.viewers.ViewerByUser(ctx, k.OwnerID, k.AccountID)
	if errors.Is(err, pg.ErrNotFound) {
		return web.Principal{}, false, nil // owner left the account
	}
	if err != nil {
		return web.Principal{}, false, err
	}
	return web.Principal{UserID: v.UserID, Email: v.Email, Name: v.Name, AccountID: v.AccountID,
		AccountName: v.AccountName, Plan: v.Plan, Roles: v.Roles, Source: web.SourceAPI, APIKeyID: k.ID}, true, nil
}

// inTx runs fn with a store on one transaction, so a change and its audit event commit together.
func (s *Service) inTx(ctx context.Context, fn func(st *Store, tx pgx.Tx) error) error {
	return pg.InTx(ctx, s.store.db, func(tx pgx.Tx) error { return fn(NewStore(tx), tx) })
}

// auditObject is a key as audit events record it (never its secret).
func auditObject(k Key) map[string]any {
	return map[string]any{"id": k.ID, "description": k.Description, "metadata": k.Metadata, "owner_id": k.OwnerID,
		"created_at": k.CreatedAt.UTC()}
}

func notFound(err error, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("API key %s was not found in this account.", id))
	}
	if err != nil {
		return httperr.Internal(err)
	}
	return nil
}
