package ippolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/netip"
	"net/smtp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/secret"
	"github.com/jackc/pgx/v5"
)

// Recovery limits.
const (
	RecoveryTTL         = 15 * time.Minute // how long a link works
	RecoveryWindow      = 15 * time.Minute // window of the request limits below
	MaxRecoveryPerIP    = 10               // requests from one IP per window, then 429
	MaxRecoveryPerEmail = 3                // requests for one email per window, then silently no mail
	MaxRecoveryPerAcct  = 10               // links emailed for one account per window, then silently no mail
	recoveryTokenPrefix = "ewr_"
)

// Audit event types of lockout recovery (ours; the reference has no self-service recovery).
const (
	EventRecoveryLinkSent   = "ip_recovery_link_sent.v0"   // emailed to an administrator
	EventRecoveryLinkIssued = "ip_recovery_link_issued.v0" // printed by bff recover
	EventRecoveryLinkUsed   = "ip_recovery_link_used.v0"   // an administrator restored access
)

// Recovery actions an administrator may take from a link.
const (
	RecoverAllowIP = "allow_ip" // add an allow rule for the current address to the dashboard restriction
	RecoverDisable = "disable"  // stop enforcing the dashboard restriction (it warns only)
)

// Mailer sends one plain-text email.
type Mailer interface {
	Send(ctx context.Context, to []string, subject, body string) error
}

// SMTPMailer sends mail through an SMTP server without authentication (a local relay or mailpit).
type SMTPMailer struct {
	Addr string // host:port; "" means mail is not configured
	From string // "Name <address>" or "address"
}

// Send implements Mailer with net/smtp.
func (m SMTPMailer) Send(ctx context.Context, to []string, subject, body string) error {
	if m.Addr == "" {
		return errors.New("no SMTP server is configured (EDGEWAY_SMTP_ADDR)")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("parse from address %q: %w", m.From, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@edgeway>\r\nMIME-Version: 1.0\r\n",
		from.String(), strings.Join(to, ", "), mimeHeader(subject), time.Now().UTC().Format(time.RFC1123Z), ids.New(ids.Event))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(m.Addr, nil, from.Address, to, []byte(b.String())) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func mimeHeader(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// Recovery sends and honours lockout recovery links.
type Recovery struct {
	log       *slog.Logger
	db        pg.DB
	store     *Store
	cache     *Cache
	mailer    Mailer
	publicURL string
	now       func() time.Time
	wg        sync.WaitGroup
}

// NewRecovery returns a Recovery; links start with publicURL (the dashboard's public base URL).
func NewRecovery(log *slog.Logger, db pg.DB, cache *Cache, mailer Mailer, publicURL string) *Recovery {
	return &Recovery{log: log, db: db, store: NewStore(db), cache: cache, mailer: mailer,
		publicURL: strings.TrimRight(publicURL, "/"), now: time.Now}
}

// Wait blocks until every recovery email being sent has been handed to the mail server (tests,
// shutdown).
func (r *Recovery) Wait() { r.wg.Wait() }

func (r *Recovery) audit(ctx context.Context, event string, attrs ...any) {
	r.log.InfoContext(ctx, "audit", append([]any{"event_type", event}, attrs...)...)
}

// Request asks for recovery links for the account the email signs in to. Whatever the email,
// the answer is the same and takes the same time: lookups and mail happen in the background.
// Only too many requests from one IP are refused (429).
func (r *Recovery) Request(ctx context.Context, email, ip string) error {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 254 {
		return httperr.Validation("Enter your email address.", map[string]string{"email": "Enter the email you sign in with."})
	}
	since := r.now().Add(-RecoveryWindow)
	byIP, byEmail, err := r.store.CountRecoveryRequests(ctx, ip, email, since)
	if err != nil {
		return httperr.Internal(err)
	}
	if byIP >= MaxRecoveryPerIP {
		e := httperr.New(http.StatusTooManyRequests, httperr.CodeRateLimited, "Too many recovery requests from your address. Try again in 15 minutes.")
		e.Details = map[string]any{"retry_after_seconds": int(RecoveryWindow.Seconds())}
		return e
	}
	if err := r.store.RecordRecoveryRequest(ctx, ip, email); err != nil {
		return httperr.Internal(err)
	}
	r.audit(ctx, "ip_recovery_requested.v0", "client_ip", ip, "throttled", byEmail >= MaxRecoveryPerEmail)
	if byEmail >= MaxRecoveryPerEmail {
		return nil
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := r.mailAdmins(bg, email, ip); err != nil {
			r.log.Error("send recovery links", "err", err, "client_ip", ip)
		}
	}()
	return nil
}

// mailAdmins sends every administrator of the email's account a link of their own, when that
// account has a dashboard restriction.
func (r *Recovery) mailAdmins(ctx context.Context, email, ip string) error {
	accountID, _, err := r.store.AccountOfEmail(ctx, email)
	if errors.Is(err, pg.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := r.store.RestrictionByType(ctx, accountID, TypeDashboard); errors.Is(err, pg.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	admins, err := r.store.Admins(ctx, accountID)
	if err != nil {
		return err
	}
	// Requests for different members' emails from different addresses must not flood the admins.
	if n, err := r.store.CountRecoveryTokens(ctx, accountID, r.now().Add(-RecoveryWindow)); err != nil {
		return err
	} else if n+len(admins) > MaxRecoveryPerAcct {
		r.log.WarnContext(ctx, "ip recovery links throttled for account", "account_id", accountID, "recent", n)
		return nil
	}
	var errs []error
	for _, a := range admins {
		link, err := r.issue(ctx, accountID, a.UserID, ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body := fmt.Sprintf(`Hello %s,

Someone (IP address %s, asking for %s) is blocked from your Edgeway dashboard by its IP restriction and asked for a way back in.

This link restores access. It works once, from any address, for 15 minutes; you sign in first:

%s

You can then turn the dashboard restriction off (warn only) or allow your current address.
If you did not expect this email, ignore it: nothing changes until the link is used.
`, a.Name, ip, email, link)
		if err := r.mailer.Send(ctx, []string{a.Email}, "Edgeway: restore dashboard access", body); err != nil {
			errs = append(errs, fmt.Errorf("mail %s: %w", a.UserID, err))
			continue
		}
		r.audit(ctx, EventRecoveryLinkSent, "account_id", accountID, "user_id", a.UserID, "client_ip", ip)
		if err := audit.Write(ctx, r.db, web.Principal{AccountID: accountID}, EventRecoveryLinkSent, a.UserID,
			map[string]any{"user_id": a.UserID, "email": a.Email, "requested_from_ip": ip, "expires_in_seconds": int(RecoveryTTL.Seconds())}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Recovery) issue(ctx context.Context, accountID, userID, ip string) (string, error) {
	sec := secret.New(recoveryTokenPrefix)
	if err := r.store.CreateRecoveryToken(ctx, sec.Hash, accountID, userID, ip, r.now().Add(RecoveryTTL)); err != nil {
		return "", err
	}
	return r.publicURL + "/ip-recovery/" + sec.Token, nil
}

// Link issues a recovery link for the administrator with this email, for operators (`bff
// recover`): no mail, no rate limit, and a clear error when the email is not an administrator's.
func (r *Recovery) Link(ctx context.Context, email string) (string, error) {
	accountID, userID, err := r.store.AccountOfEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, pg.ErrNotFound) {
		return "", fmt.Errorf("no enabled user signs in with %s", email)
	}
	if err != nil {
		return "", err
	}
	if ok, err := r.store.IsAdmin(ctx, accountID, userID); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("%s is not an administrator of account %s", email, accountID)
	}
	link, err := r.issue(ctx, accountID, userID, "cli")
	if err != nil {
		return "", err
	}
	r.audit(ctx, EventRecoveryLinkIssued, "account_id", accountID, "user_id", userID, "source", "cli")
	if err := audit.Write(ctx, r.db, web.Principal{AccountID: accountID}, EventRecoveryLinkIssued, userID,
		map[string]any{"user_id": userID, "email": email, "source": "cli"}); err != nil {
		return "", err
	}
	return link, nil
}

func invalidLink() error {
	return httperr.New(http.StatusGone, httperr.CodeIPRecoveryInvalid,
		"This recovery link was already used, has expired, or is not for the account you are signed in to. Request a new one.")
}

// Inspect checks a link for the signed-in administrator without using it.
func (r *Recovery) Inspect(ctx context.Context, p web.Principal, token string) (RecoveryToken, Restriction, error) {
	t, err := r.store.RecoveryToken(ctx, secret.Hash(token))
	if err != nil || t.UsedAt != nil || !t.ExpiresAt.After(r.now()) || t.UserID != p.UserID || t.AccountID != p.AccountID {
		return RecoveryToken{}, Restriction{}, invalidLink()
	}
	rs, err := r.store.RestrictionByType(ctx, p.AccountID, TypeDashboard)
	if err != nil && !errors.Is(err, pg.ErrNotFound) {
		return t, rs, httperr.Internal(err)
	}
	return t, rs, nil
}

// Apply uses a link (once) to restore the signed-in administrator's access from ip: action is
// RecoverAllowIP or RecoverDisable.
func (r *Recovery) Apply(ctx context.Context, p web.Principal, token string, ip netip.Addr, action string) error {
	if action != RecoverAllowIP && action != RecoverDisable {
		return httperr.Validation("Choose what to do.", map[string]string{"action": "Choose allow my address or turn the restriction off."})
	}
	ip = ipmatch.NormalizeAddr(ip)
	if action == RecoverAllowIP && !ip.IsValid() {
		return httperr.Validation("Your address could not be read.", map[string]string{"action": "Turn the restriction off instead."})
	}
	err := pg.InTx(ctx, r.db, func(tx pgx.Tx) error {
		st := NewStore(tx)
		t, err := st.UseRecoveryToken(ctx, secret.Hash(token), r.now())
		if errors.Is(err, pg.ErrNotFound) || (err == nil && (t.UserID != p.UserID || t.AccountID != p.AccountID)) {
			return invalidLink()
		}
		if err != nil {
			return httperr.Internal(err)
		}
		if ok, err := st.IsAdmin(ctx, p.AccountID, p.UserID); err != nil {
			return httperr.Internal(err)
		} else if !ok {
			return httperr.New(http.StatusForbidden, httperr.CodeForbidden, "Only an administrator of the account can use a recovery link.")
		}
		dash, err := st.RestrictionByType(ctx, p.AccountID, TypeDashboard)
		if errors.Is(err, pg.ErrNotFound) {
			return nil // nothing restricts the dashboard any more
		}
		if err != nil {
			return httperr.Internal(err)
		}
		if err := record(ctx, st, p, EventRecoveryLinkUsed, dash.ID, map[string]any{"action": action, "client_ip": ip.String(),
			"ip_restriction_id": dash.ID}); err != nil {
			return err
		}
		if action == RecoverDisable {
			off := false
			r, err := st.UpdateRestriction(ctx, p.AccountID, dash.ID, &off, nil, nil, nil)
			if err != nil {
				return httperr.Internal(err)
			}
			return record(ctx, st, p, EventRestrictionUpdated, r.ID, restrictionObject(r))
		}
		return allowIP(ctx, st, p, dash, ip, r.now())
	})
	if err != nil {
		return err
	}
	r.cache.Invalidate(p.AccountID)
	r.audit(ctx, EventRecoveryLinkUsed, "account_id", p.AccountID, "user_id", p.UserID, "client_ip", ip.String(), "action", action)
	return nil
}

// allowIP makes the dashboard restriction allow ip: deny rules for exactly that address are
// removed from its policies (deny would win the tie) and a new policy allowing the address is
// added to it.
func allowIP(ctx context.Context, st *Store, p web.Principal, dash Restriction, ip netip.Addr, now time.Time) error {
	host := ipmatch.HostPrefix(ip).String()
	rules, err := st.RulesOfPolicies(ctx, p.AccountID, dash.PolicyIDs)
	if err != nil {
		return httperr.Internal(err)
	}
	for _, rule := range rules {
		if rule.CIDR == host && rule.Action == string(ipmatch.Deny) {
			if err := st.DeleteRule(ctx, p.AccountID, rule.ID); err != nil {
				return httperr.Internal(err)
			}
			if err := record(ctx, st, p, EventRuleDeleted, rule.ID, ruleObject(rule)); err != nil {
				return err
			}
		}
	}
	pol, err := st.CreatePolicy(ctx, Policy{ID: ids.New(ids.IPPolicy), AccountID: p.AccountID,
		Description: fmt.Sprintf("Recovery: allow %s (%s, %s)", ip, p.Email, now.UTC().Format("2006-01-02 15:04 UTC"))})
	if err != nil {
		return httperr.Internal(err)
	}
	if err := record(ctx, st, p, EventPolicyCreated, pol.ID, policyObject(pol)); err != nil {
		return err
	}
	rule, err := st.CreateRule(ctx, Rule{ID: ids.New(ids.IPPolicyRule), AccountID: p.AccountID, PolicyID: pol.ID, CIDR: host,
		Action: string(ipmatch.Allow), Description: "added by a recovery link"})
	if err != nil {
		return httperr.Internal(err)
	}
	if err := record(ctx, st, p, EventRuleCreated, rule.ID, ruleObject(rule)); err != nil {
		return err
	}
	updated, err := st.UpdateRestriction(ctx, p.AccountID, dash.ID, nil, nil, nil, append(slices.Clone(dash.PolicyIDs), pol.ID))
	if err != nil {
		return httperr.Internal(err)
	}
	return record(ctx, st, p, EventRestrictionUpdated, updated.ID, restrictionObject(updated))
}
