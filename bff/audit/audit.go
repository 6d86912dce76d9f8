// Package audit records who changed what: one event per change made through the dashboard or
// the API (api_key_created.v0, tunnel_credential_deleted.v0, membership_updated.v0, ...), written
// to the audit_events table in the same transaction as the change, with the reference's envelope
// (event id, type, timestamp, account, object, principal {id, subject, source, credential}).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Event types written by the bff. Types are versioned and never change meaning.
const (
	APIKeyCreated           = "api_key_created.v0"
	APIKeyUpdated           = "api_key_updated.v0"
	APIKeyDeleted           = "api_key_deleted.v0"
	TunnelCredentialCreated = "tunnel_credential_created.v0"
	TunnelCredentialUpdated = "tunnel_credential_updated.v0"
	TunnelCredentialDeleted = "tunnel_credential_deleted.v0"
	InvitationCreated       = "invitation_created.v0"
	InvitationResent        = "invitation_resent.v0"
	InvitationRevoked       = "invitation_revoked.v0"
	MembershipCreated       = "membership_created.v0"
	MembershipUpdated       = "membership_updated.v0"
	MembershipDisabled      = "membership_disabled.v0"
	MembershipEnabled       = "membership_enabled.v0"
	MembershipDeleted       = "membership_deleted.v0"
	AccountPlanUpdated      = "account_plan_updated.v0"
)

// Principal is who made a change, as the reference's event envelope names it.
type Principal struct {
	ID         string `json:"id"`         // usr_...
	Subject    string `json:"subject"`    // the user's email
	Source     string `json:"source"`     // "Dashboard" or "API"
	Credential *Ref   `json:"credential"` // the API key, when Source is "API"
}

// Ref names another resource.
type Ref struct {
	ID string `json:"id"`
}

// PrincipalOf is the audit principal of a request's principal.
func PrincipalOf(p web.Principal) Principal {
	out := Principal{ID: p.UserID, Subject: p.Email, Source: p.Source}
	if p.APIKeyID != "" {
		out.Credential = &Ref{ID: p.APIKeyID}
	}
	return out
}

// Event is one audit event in the reference's envelope.
type Event struct {
	ID        string          `json:"event_id"`
	Type      string          `json:"event_type"`
	Timestamp time.Time       `json:"event_timestamp"`
	AccountID string          `json:"account_id"`
	Object    json.RawMessage `json:"object"`
	Principal Principal       `json:"principal"`
}

// Write records that p made a change of type typ to the object objectID (object is its JSON
// form). Pass the transaction of the change, so the event exists if and only if the change does.
func Write(ctx context.Context, db pg.DB, p web.Principal, typ, objectID string, object any) error {
	data, err := json.Marshal(object)
	if err != nil {
		return fmt.Errorf("audit %s: encode object: %w", typ, err)
	}
	pr := PrincipalOf(p)
	credential := ""
	if pr.Credential != nil {
		credential = pr.Credential.ID
	}
	_, err = db.Exec(ctx, `insert into audit_events (id, account_id, event_type, object_id, object, principal_id,
		principal_subject, principal_source, principal_credential_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		ids.New(ids.Event), p.AccountID, typ, objectID, data, pr.ID, pr.Subject, pr.Source, credential)
	if err != nil {
		return fmt.Errorf("audit %s: %w", typ, err)
	}
	return nil
}

// List returns up to limit events of the account, newest first.
func List(ctx context.Context, db pg.DB, accountID string, limit int) ([]Event, error) {
	rows, err := db.Query(ctx, `select id, event_type, created_at, account_id, object, principal_id, principal_subject,
		principal_source, principal_credential_id from audit_events where account_id = $1 order by id desc limit $2`,
		accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
		var e Event
		var credential string
		err := row.Scan(&e.ID, &e.Type, &e.Timestamp, &e.AccountID, &e.Object, &e.Principal.ID, &e.Principal.Subject,
			&e.Principal.Source, &credential)
		if credential != "" {
			e.Principal.Credential = &Ref{ID: credential}
		}
		return e, err
	})
}
