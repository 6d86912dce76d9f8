// Package team manages the people of an account: members and their roles, invitations by email
// (a single-use, expiring link sent through the mail outbox), disabling, enabling and deleting
// members. Rules kept here: an account always keeps an enabled administrator; only
// administrators change, disable, delete or invite administrators; team features need a paid
// plan; members and pending invitations count against the plan's user limit.
package team

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/auth"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/mail"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/secret"
	"github.com/jackc/pgx/v5"
)

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// TokenPrefix starts every invitation token.
const TokenPrefix = "ewi_"

// Accounts is what the service needs of package auth: creating and recognising people.
type Accounts interface {
	NewUser(name, email, password string) (auth.User, error)
	VerifyPassword(ctx context.Context, email, password string) (auth.User, error)
	UserExists(ctx context.Context, email string) (bool, error)
}

// Revoker disconnects the agents of deleted authtokens (the control plane implements it).
type Revoker interface {
	CredentialRevoked(ctx context.Context, accountID, credentialID string)
}

// Kicker wakes the mail worker after an email was enqueued.
type Kicker interface{ Kick() }

// Service implements the team rules.
type Service struct {
	log       *slog.Logger
	db        pg.DB
	store     Store
	plans     *plans.Service
	accounts  Accounts
	revoker   Revoker
	mail      Kicker
	publicURL string
	now       func() time.Time
}

// New returns a Service. revoker and mailer may be nil.
func New(log *slog.Logger, db pg.DB, plans *plans.Service, accounts Accounts, revoker Revoker, mailer Kicker, publicURL string) *Service {
	return &Service{log: log, db: db, plans: plans, accounts: accounts, revoker: revoker, mail: mailer,
		publicURL: strings.TrimRight(publicURL, "/"), now: time.Now}
}

// Overview is what the Team page shows.
type Overview struct {
	Paid        bool
	PlanLabel   string
	Members     []Member
	Invitations []Invitation
	UsersUsed   int
	UsersMax    int
	Upgrade     plans.Plan // the plan that unlocks team features, for the free plan's page
}

// Overview lists the members and pending invitations, with the user limit.
func (s *Service) Overview(ctx context.Context, p web.Principal) (Overview, error) {
	a, err := s.plans.Account(ctx, p.AccountID)
	if err != nil {
		return Overview{}, httperr.Internal(err)
	}
	o := Overview{Paid: a.Plan.Paid, PlanLabel: a.Plan.Label, UsersUsed: a.Usage[plans.Users], UsersMax: a.Plan.Limits[plans.Users]}
	if next, ok := plans.NextWith(a.Plan.Name, plans.Users, o.UsersMax); ok {
		o.Upgrade = next
	}
	if o.Members, err = s.store.Members(ctx, s.db, p.AccountID); err != nil {
		return Overview{}, httperr.Internal(err)
	}
	if o.Invitations, err = s.store.PendingInvitations(ctx, s.db, p.AccountID); err != nil {
		return Overview{}, httperr.Internal(err)
	}
	return o, nil
}

func (s *Service) kick() {
	if s.mail != nil {
		s.mail.Kick()
	}
}

func isAdmin(roles []string) bool { return slices.Contains(roles, auth.RoleAdmin) }

func onlyAdmins(code, msg string) error { return httperr.New(http.StatusForbidden, code, msg) }

func memberObject(m Member) map[string]any {
	return map[string]any{"user_id": m.UserID, "email": m.Email, "roles": m.Roles, "disabled": m.DisabledAt != nil}
}

func invitationObject(inv Invitation) map[string]any {
	return map[string]any{"id": inv.ID, "email": inv.Email, "roles": inv.Roles, "expires_at": inv.ExpiresAt.UTC()}
}

// Invite invites email to the account with roles and sends the link by email.
func (s *Service) Invite(ctx context.Context, p web.Principal, email string, roles []string) (Invitation, error) {
	email = strings.TrimSpace(email)
	if msg := auth.ValidateEmail(email); msg != "" {
		return Invitation{}, httperr.Validation("The invitation could not be sent.", map[string]string{"email": msg})
	}
	if !auth.ValidRoles(roles) {
		return Invitation{}, httperr.Validation("The invitation could not be sent.", map[string]string{"roles": "Choose the roles to give."})
	}
	if isAdmin(roles) && !isAdmin(p.Roles) {
		return Invitation{}, onlyAdmins(httperr.CodeNoInvitePermission, "Only administrators can invite administrators.")
	}
	inv := Invitation{ID: ids.New(ids.Invitation), AccountID: p.AccountID, Email: email, Roles: roles, InvitedBy: &p.UserID,
		ExpiresAt: s.now().Add(InvitationTTL).UTC()}
	sec := secret.New(TokenPrefix)
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if err := s.plans.RequirePaid(ctx, tx, p.AccountID, "Inviting team members"); err != nil {
			return err
		}
		if err := s.plans.CheckTx(ctx, tx, p.AccountID, plans.Users); err != nil {
			return err
		}
		if member, err := s.store.IsMember(ctx, tx, p.AccountID, email); err != nil {
			return httperr.Internal(err)
		} else if member {
			e := httperr.New(http.StatusConflict, httperr.CodeAlreadyMember, email+" is already a member of this account.")
			e.Fields = map[string]string{"email": "Already a member."}
			return e
		}
		if err := s.store.CreateInvitation(ctx, tx, inv, sec.Hash); err != nil {
			if errors.Is(err, pg.ErrConflict) {
				e := httperr.New(http.StatusConflict, httperr.CodeInvitationConflict,
					email+" already has a pending invitation. Resend it from the list below instead.")
				e.Fields = map[string]string{"email": "Already invited: resend or revoke that invitation."}
				return e
			}
			return httperr.Internal(err)
		}
		if err := s.enqueue(ctx, tx, p, inv, sec.Token); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.InvitationCreated, inv.ID, invitationObject(inv))
	})
	if err != nil {
		return Invitation{}, wrap(err)
	}
	s.log.InfoContext(ctx, "invitation sent", "account_id", p.AccountID, "user_id", p.UserID, "invitation_id", inv.ID)
	s.kick()
	return inv, nil
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, p web.Principal, inv Invitation, token string) error {
	labels := make([]string, 0, len(inv.Roles))
	for _, r := range inv.Roles {
		labels = append(labels, auth.RoleLabels[r])
	}
	body := fmt.Sprintf(`%s (%s) invited you to join the %s account on Edgeway as: %s.

Accept the invitation:
%s

The link works once and expires on %s. If you did not expect this email, ignore it.
`, p.Name, p.Email, p.AccountName, strings.Join(labels, ", "), s.publicURL+"/invitations/"+token,
		inv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	err := mail.Enqueue(ctx, tx, mail.Message{AccountID: inv.AccountID, To: inv.Email,
		Subject: fmt.Sprintf("%s invited you to %s on Edgeway", p.Name, p.AccountName), Body: body})
	if err != nil {
		return httperr.Internal(err)
	}
	return nil
}

// Resend sends a pending invitation again with a new link (the old one stops working) and a new expiry.
func (s *Service) Resend(ctx context.Context, p web.Principal, id string) error {
	sec := secret.New(TokenPrefix)
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		inv, err := s.store.Invitation(ctx, tx, p.AccountID, id)
		if err != nil {
			return invitationNotFound(err, id)
		}
		if isAdmin(inv.Roles) && !isAdmin(p.Roles) {
			return onlyAdmins(httperr.CodeNoInvitePermission, "Only administrators can resend an invitation for an administrator.")
		}
		inv.ExpiresAt = s.now().Add(InvitationTTL).UTC()
		if err := s.store.RenewInvitation(ctx, tx, id, sec.Hash, inv.ExpiresAt); err != nil {
			return httperr.Internal(err)
		}
		if err := s.enqueue(ctx, tx, p, inv, sec.Token); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, audit.InvitationResent, inv.ID, invitationObject(inv))
	})
	if err != nil {
		return wrap(err)
	}
	s.kick()
	return nil
}

// RevokeInvitation ends a pending invitation: its link stops working.
func (s *Service) RevokeInvitation(ctx context.Context, p web.Principal, id string) error {
	return wrap(pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		inv, err := s.store.Invitation(ctx, tx, p.AccountID, id)
		if err != nil {
			return invitationNotFound(err, id)
		}
		if isAdmin(inv.Roles) && !isAdmin(p.Roles) {
			return onlyAdmins(httperr.CodeNoInvitePermission, "Only administrators can revoke an invitation for an administrator.")
		}
		if err := s.store.RevokeInvitation(ctx, tx, id); err != nil {
			return httperr.Internal(err)
		}
		return audit.Write(ctx, tx, p, audit.InvitationRevoked, inv.ID, invitationObject(inv))
	}))
}

// target locks the account's team, then loads a member for a change by p, enforcing that only
// administrators touch administrators.
func (s *Service) target(ctx context.Context, tx pgx.Tx, p web.Principal, userID string) (Member, error) {
	if err := s.store.LockAccount(ctx, tx, p.AccountID); err != nil {
		return Member{}, httperr.Internal(err)
	}
	m, err := s.store.Member(ctx, tx, p.AccountID, userID)
	if errors.Is(err, pg.ErrNotFound) {
		return Member{}, httperr.NotFound("Member " + userID)
	}
	if err != nil {
		return Member{}, httperr.Internal(err)
	}
	if isAdmin(m.Roles) && !isAdmin(p.Roles) {
		return Member{}, onlyAdmins(httperr.CodeNoManageMembersPermission, "Only administrators can change another administrator.")
	}
	return m, nil
}

// keepAnAdmin refuses a change that would leave the account without an enabled administrator.
func (s *Service) keepAnAdmin(ctx context.Context, tx pgx.Tx, p web.Principal, m Member, what string) error {
	if !isAdmin(m.Roles) || m.DisabledAt != nil {
		return nil
	}
	n, err := s.store.OtherActiveAdmins(ctx, tx, p.AccountID, m.UserID)
	if err != nil {
		return httperr.Internal(err)
	}
	if n == 0 {
		return httperr.New(http.StatusConflict, httperr.CodeLastAdmin, fmt.Sprintf(
			"%s is the account's only administrator: make someone else an administrator before you %s.", m.Email, what))
	}
	return nil
}

// ChangeRoles gives a member new roles.
func (s *Service) ChangeRoles(ctx context.Context, p web.Principal, userID string, roles []string) error {
	if !auth.ValidRoles(roles) {
		return httperr.Validation("The roles could not be changed.", map[string]string{"roles": "Choose one developer role, at most one team role, and billing access or not."})
	}
	if isAdmin(roles) && !isAdmin(p.Roles) {
		return onlyAdmins(httperr.CodeNoManageMembersPermission, "Only administrators can make someone an administrator.")
	}
	return wrap(pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if err := s.plans.RequirePaid(ctx, tx, p.AccountID, "Changing roles"); err != nil {
			return err
		}
		m, err := s.target(ctx, tx, p, userID)
		if err != nil {
			return err
		}
		if !isAdmin(roles) {
			if err := s.keepAnAdmin(ctx, tx, p, m, "change their roles"); err != nil {
				return err
			}
		}
		if err := s.store.SetRoles(ctx, tx, p.AccountID, userID, roles); err != nil {
			return httperr.Internal(err)
		}
		m.Roles = roles
		return audit.Write(ctx, tx, p, audit.MembershipUpdated, m.UserID, memberObject(m))
	}))
}

// SetDisabled disables (reversibly: sessions end, API keys stop working) or enables a member.
func (s *Service) SetDisabled(ctx context.Context, p web.Principal, userID string, disabled bool) error {
	if disabled && userID == p.UserID {
		return httperr.New(http.StatusConflict, httperr.CodeForbidden, "You cannot disable yourself. Ask another administrator.")
	}
	return wrap(pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		m, err := s.target(ctx, tx, p, userID)
		if err != nil {
			return err
		}
		typ := audit.MembershipEnabled
		if disabled {
			typ = audit.MembershipDisabled
			if err := s.keepAnAdmin(ctx, tx, p, m, "disable them"); err != nil {
				return err
			}
		}
		if err := s.store.SetDisabled(ctx, tx, p.AccountID, userID, disabled); err != nil {
			return httperr.Internal(err)
		}
		if disabled {
			now := s.now()
			m.DisabledAt = &now
		} else {
			m.DisabledAt = nil
		}
		return audit.Write(ctx, tx, p, typ, m.UserID, memberObject(m))
	}))
}

// Delete removes a member: their authtokens (disconnecting their agents), API keys and sessions
// in the account go with them.
func (s *Service) Delete(ctx context.Context, p web.Principal, userID string) error {
	if userID == p.UserID {
		return httperr.New(http.StatusConflict, httperr.CodeForbidden, "You cannot delete yourself. Ask another administrator.")
	}
	var revoked []string
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		m, err := s.target(ctx, tx, p, userID)
		if err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, tx, p, m, "delete them"); err != nil {
			return err
		}
		if revoked, err = s.store.DeleteMember(ctx, tx, p.AccountID, userID); err != nil {
			return httperr.Internal(err)
		}
		return audit.Write(ctx, tx, p, audit.MembershipDeleted, m.UserID, memberObject(m))
	})
	if err != nil {
		return wrap(err)
	}
	s.log.InfoContext(ctx, "member deleted", "account_id", p.AccountID, "user_id", p.UserID, "member_id", userID, "credentials_revoked", len(revoked))
	if s.revoker != nil {
		for _, id := range revoked {
			s.revoker.CredentialRevoked(ctx, p.AccountID, id)
		}
	}
	return nil
}

// InvitationInfo is what the acceptance page shows about an invitation.
type InvitationInfo struct {
	Email       string
	AccountName string
	Roles       []string
	Existing    bool // the email already has a user: accepting asks for their password
}

var errInvalidInvitation = httperr.New(http.StatusGone, httperr.CodeInvitationInvalid,
	"This invitation link is no longer valid: it was used, revoked or has expired. Ask the person who invited you to send a new one.")

func (s *Service) pending(ctx context.Context, db pg.DB, token string) (Invitation, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return Invitation{}, errInvalidInvitation
	}
	inv, err := s.store.InvitationByHash(ctx, db, secret.Hash(token))
	if errors.Is(err, pg.ErrNotFound) {
		return Invitation{}, errInvalidInvitation
	}
	if err != nil {
		return Invitation{}, httperr.Internal(err)
	}
	if inv.AcceptedAt != nil || inv.RevokedAt != nil || !s.now().Before(inv.ExpiresAt) {
		return Invitation{}, errInvalidInvitation
	}
	return inv, nil
}

// Invitation describes the pending invitation of token.
func (s *Service) Invitation(ctx context.Context, token string) (InvitationInfo, error) {
	inv, err := s.pending(ctx, s.db, token)
	if err != nil {
		return InvitationInfo{}, err
	}
	name, err := s.store.AccountName(ctx, s.db, inv.AccountID)
	if err != nil {
		return InvitationInfo{}, httperr.Internal(err)
	}
	existing, err := s.accounts.UserExists(ctx, inv.Email)
	if err != nil {
		return InvitationInfo{}, httperr.Internal(err)
	}
	return InvitationInfo{Email: inv.Email, AccountName: name, Roles: inv.Roles, Existing: existing}, nil
}

// Accept uses the invitation of token: it creates the user (name and password) or, when the email
// is registered, checks their password, then adds the membership. It returns the user and account.
func (s *Service) Accept(ctx context.Context, token, name, password string) (userID, accountID string, err error) {
	info, err := s.Invitation(ctx, token)
	if err != nil {
		return "", "", err
	}
	var user auth.User
	if info.Existing {
		user, err = s.accounts.VerifyPassword(ctx, info.Email, password)
	} else {
		user, err = s.accounts.NewUser(name, info.Email, password)
	}
	if err != nil {
		return "", "", err
	}
	err = pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		inv, err := s.pending(ctx, tx, token) // again, locked: the link works once
		if err != nil {
			return err
		}
		if !info.Existing {
			if err := s.store.InsertUser(ctx, tx, user.ID, user.Email, user.Name, user.PasswordHash); err != nil {
				if errors.Is(err, pg.ErrConflict) {
					return httperr.New(http.StatusConflict, httperr.CodeEmailTaken, "This email was registered meanwhile: reload the page and enter its password.")
				}
				return httperr.Internal(err)
			}
		}
		if err := s.store.AcceptInvitation(ctx, tx, inv, user.ID); err != nil {
			if errors.Is(err, pg.ErrConflict) {
				return httperr.New(http.StatusConflict, httperr.CodeAlreadyMember, "You are already a member of this account.")
			}
			return httperr.Internal(err)
		}
		accountID = inv.AccountID
		p := web.Principal{UserID: user.ID, Email: user.Email, AccountID: inv.AccountID, Source: web.SourceDashboard}
		return audit.Write(ctx, tx, p, audit.MembershipCreated, user.ID,
			memberObject(Member{UserID: user.ID, Email: user.Email, Roles: inv.Roles}))
	})
	if err != nil {
		return "", "", wrap(err)
	}
	s.log.InfoContext(ctx, "invitation accepted", "account_id", accountID, "user_id", user.ID)
	return user.ID, accountID, nil
}

func invitationNotFound(err error, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.NotFound("Pending invitation " + id)
	}
	return httperr.Internal(err)
}

// wrap passes typed errors through and hides anything else behind a 500.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := httperr.As(err); ok {
		return err
	}
	return httperr.Internal(err)
}
