// Package auth signs people up and in: accounts, users, memberships, password hashing (argon2id),
// server-side browser sessions with rotation, and login throttling per IP and per email.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/secret"
)

// RoleAdmin is the role of an account's first user.
const RoleAdmin = "admin"

// Policy holds the tunables of sign-in.
type Policy struct {
	SessionTTL      time.Duration    // idle lifetime of a browser session
	ThrottleWindow  time.Duration    // window over which failures are counted
	MaxFailsByIP    int              // failures from one IP within the window before it is refused
	MaxFailsByEmail int              // failures for one email within the window before it is refused
	Argon           *argon2id.Params // password hashing cost
}

// DefaultPolicy is what production uses.
var DefaultPolicy = Policy{
	SessionTTL:      7 * 24 * time.Hour,
	ThrottleWindow:  15 * time.Minute,
	MaxFailsByIP:    30,
	MaxFailsByEmail: 5,
	Argon:           argon2id.DefaultParams,
}

// Service implements sign-up, sign-in and sessions.
type Service struct {
	log       *slog.Logger
	store     *Store
	policy    Policy
	dummyHash string
	now       func() time.Time
}

// NewService returns a Service.
func NewService(log *slog.Logger, store *Store, policy Policy) (*Service, error) {
	// A hash to compare against when the email is unknown, so timing does not reveal accounts.
	dummy, err := argon2id.CreateHash("edgeway-dummy-password", policy.Argon)
	if err != nil {
		return nil, fmt.Errorf("create dummy hash: %w", err)
	}
	return &Service{log: log, store: store, policy: policy, dummyHash: dummy, now: time.Now}, nil
}

// SignupInput is what the sign-up form sends.
type SignupInput struct {
	AccountName string
	Name        string
	Email       string
	Password    string
}

// Limits of user input.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
	MaxNameLen     = 80
	MaxEmailLen    = 254
)

// Normalize trims the text fields.
func (in *SignupInput) Normalize() {
	in.AccountName = strings.TrimSpace(in.AccountName)
	in.Name = strings.TrimSpace(in.Name)
	in.Email = strings.TrimSpace(in.Email)
}

// Validate returns every problem with the input, by field.
func (in SignupInput) Validate() map[string]string {
	errs := map[string]string{}
	checkName := func(field, label, v string) {
		switch n := utf8.RuneCountInString(v); {
		case n == 0:
			errs[field] = label + " is required."
		case n > MaxNameLen:
			errs[field] = fmt.Sprintf("%s must be at most %d characters (it has %d).", label, MaxNameLen, n)
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			errs[field] = label + " must not contain control characters."
		}
	}
	checkName("account_name", "Account name", in.AccountName)
	checkName("name", "Your name", in.Name)
	if msg := ValidateEmail(in.Email); msg != "" {
		errs["email"] = msg
	}
	switch n := utf8.RuneCountInString(in.Password); {
	case n < MinPasswordLen:
		errs["password"] = fmt.Sprintf("Password must be at least %d characters.", MinPasswordLen)
	case len(in.Password) > MaxPasswordLen:
		errs["password"] = fmt.Sprintf("Password must be at most %d bytes.", MaxPasswordLen)
	}
	return errs
}

// ValidateEmail returns what is wrong with an email address, or "".
func ValidateEmail(email string) string {
	if email == "" {
		return "Email is required."
	}
	if len(email) > MaxEmailLen {
		return fmt.Sprintf("Email must be at most %d characters.", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "Enter an email address like name@example.com."
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || !strings.Contains(email[at+1:], ".") && email[at+1:] != "localhost" {
		return "Enter an email address with a domain, like name@example.com."
	}
	return ""
}

// Session is a new browser session: the cookie value and who it belongs to.
type Session struct {
	Token   string
	Expires time.Time
	Viewer  Viewer
}

// Signup creates an account with its first administrator and signs them in.
func (s *Service) Signup(ctx context.Context, in SignupInput, ip, ua string) (Session, error) {
	in.Normalize()
	if errs := in.Validate(); len(errs) > 0 {
		return Session{}, httperr.Validation("Some fields need attention.", errs)
	}
	hash, err := argon2id.CreateHash(in.Password, s.policy.Argon)
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("hash password: %w", err))
	}
	acct := Account{ID: ids.New(ids.Account), Name: in.AccountName, Plan: "free"}
	user := User{ID: ids.New(ids.User), Email: in.Email, Name: in.Name, PasswordHash: hash}
	if err := s.store.CreateAccount(ctx, acct, user, []string{RoleAdmin}); err != nil {
		if errors.Is(err, pg.ErrConflict) {
			e := httperr.New(http.StatusConflict, httperr.CodeEmailTaken, "An account with this email already exists.")
			e.Fields = map[string]string{"email": "This email is already registered. Log in instead, or use another email."}
			return Session{}, e
		}
		return Session{}, httperr.Internal(fmt.Errorf("create account: %w", err))
	}
	s.log.InfoContext(ctx, "account created", "account_id", acct.ID, "user_id", user.ID)
	v := Viewer{UserID: user.ID, Email: user.Email, Name: user.Name, AccountID: acct.ID,
		AccountName: acct.Name, Plan: acct.Plan, Roles: []string{RoleAdmin}}
	return s.startSession(ctx, v, ip, ua)
}

// Login checks the password and starts a session. Failures are counted per IP and per email;
// past the limits the attempt is refused before the password is checked.
func (s *Service) Login(ctx context.Context, email, password, ip, ua string) (Session, error) {
	email = strings.TrimSpace(email)
	now := s.now()
	since := now.Add(-s.policy.ThrottleWindow)
	fails, err := s.store.CountLoginFailures(ctx, ip, email, since)
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("count login failures: %w", err))
	}
	if fails.ByEmail >= s.policy.MaxFailsByEmail {
		return Session{}, s.throttled("for this email", fails.OldestByEmail, now)
	}
	if fails.ByIP >= s.policy.MaxFailsByIP {
		return Session{}, s.throttled("from your network address", fails.OldestByIP, now)
	}
	user, err := s.store.UserByEmail(ctx, email)
	hash := user.PasswordHash
	if errors.Is(err, pg.ErrNotFound) {
		hash = s.dummyHash
	} else if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("load user: %w", err))
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("compare password: %w", err))
	}
	if !ok || user.ID == "" {
		if err := s.store.RecordLoginFailure(ctx, ip, email); err != nil {
			s.log.ErrorContext(ctx, "record login failure", "err", err)
		}
		return Session{}, httperr.New(http.StatusUnauthorized, httperr.CodeBadCredentials,
			"The email or password is not correct. Check both and try again.")
	}
	if err := s.store.ClearLoginFailures(ctx, email); err != nil {
		s.log.ErrorContext(ctx, "clear login failures", "err", err)
	}
	m, err := s.store.FirstMembership(ctx, user.ID)
	if errors.Is(err, pg.ErrNotFound) {
		return Session{}, httperr.New(http.StatusForbidden, httperr.CodeForbidden,
			"Your access to this account is disabled. Ask an administrator of the account to enable it.")
	}
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("load membership of %s: %w", user.ID, err))
	}
	v, err := s.store.ViewerByUser(ctx, user.ID, m.AccountID)
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("load viewer: %w", err))
	}
	return s.startSession(ctx, v, ip, ua)
}

func (s *Service) throttled(scope string, oldest, now time.Time) error {
	wait := oldest.Add(s.policy.ThrottleWindow).Sub(now)
	minutes := int(math.Ceil(wait.Minutes()))
	if minutes < 1 {
		minutes = 1
	}
	e := httperr.New(http.StatusTooManyRequests, httperr.CodeLoginThrottled,
		fmt.Sprintf("Too many failed sign-in attempts %s. Try again in %d minute(s), or reset your password.", scope, minutes))
	e.Details = map[string]any{"retry_after_seconds": int(math.Ceil(wait.Seconds()))}
	return e
}

func (s *Service) startSession(ctx context.Context, v Viewer, ip, ua string) (Session, error) {
	sec := secret.New("")
	token, hash := sec.Token, sec.Hash
	expires := s.now().Add(s.policy.SessionTTL)
	if len(ua) > 512 {
		ua = ua[:512]
	}
	if err := s.store.CreateSession(ctx, hash, v.UserID, v.AccountID, expires, ip, ua); err != nil {
		return Session{}, httperr.Internal(err)
	}
	return Session{Token: token, Expires: expires, Viewer: v}, nil
}

// Resolve returns the viewer of a session token. Activity slides the expiry, at most once a minute.
func (s *Service) Resolve(ctx context.Context, token string) (Viewer, bool, error) {
	if token == "" || len(token) > 128 {
		return Viewer{}, false, nil
	}
	hash := HashToken(token)
	v, seen, err := s.store.SessionViewer(ctx, hash)
	if errors.Is(err, pg.ErrNotFound) {
		return Viewer{}, false, nil
	}
	if err != nil {
		return Viewer{}, false, fmt.Errorf("resolve session: %w", err)
	}
	if now := s.now(); now.Sub(seen) > time.Minute {
		if err := s.store.TouchSession(ctx, hash, now.Add(s.policy.SessionTTL)); err != nil {
			s.log.WarnContext(ctx, "touch session", "err", err)
		}
	}
	return v, true, nil
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return s.store.DeleteSession(ctx, HashToken(token))
}

// Seed makes sure an account with an administrator exists for email (used by `bff seed`).
// It reports whether it created one; with reset, an existing user's password is set to password.
func (s *Service) Seed(ctx context.Context, accountName, name, email, password string, reset bool) (bool, error) {
	if u, err := s.store.UserByEmail(ctx, email); err == nil {
		if !reset {
			return false, nil
		}
		if len(password) < MinPasswordLen {
			return false, fmt.Errorf("password must be at least %d characters", MinPasswordLen)
		}
		hash, err := argon2id.CreateHash(password, s.policy.Argon)
		if err != nil {
			return false, err
		}
		return false, s.store.SetPassword(ctx, u.ID, hash)
	} else if !errors.Is(err, pg.ErrNotFound) {
		return false, err
	}
	in := SignupInput{AccountName: accountName, Name: name, Email: email, Password: password}
	in.Normalize()
	if errs := in.Validate(); len(errs) > 0 {
		return false, fmt.Errorf("invalid seed input: %v", errs)
	}
	hash, err := argon2id.CreateHash(in.Password, s.policy.Argon)
	if err != nil {
		return false, err
	}
	acct := Account{ID: ids.New(ids.Account), Name: in.AccountName, Plan: "free"}
	user := User{ID: ids.New(ids.User), Email: in.Email, Name: in.Name, PasswordHash: hash}
	if err := s.store.CreateAccount(ctx, acct, user, []string{RoleAdmin}); err != nil {
		return false, err
	}
	return true, nil
}

// HashToken is how session tokens are stored (see package secret).
func HashToken(token string) []byte { return secret.Hash(token) }
