package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/alexedwards/argon2id"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/labstack/echo/v4"
)

// NewUser validates a person's name and password and returns the user to insert (with a fresh
// ID and the password's hash). Invitations use it to create the people they invite.
func (s *Service) NewUser(name, email, password string) (User, error) {
	in := SignupInput{AccountName: "-", Name: name, Email: email, Password: password}
	in.Normalize()
	if errs := in.Validate(); len(errs) > 0 {
		return User{}, httperr.Validation("Some fields need attention.", errs)
	}
	hash, err := argon2id.CreateHash(in.Password, s.policy.Argon)
	if err != nil {
		return User{}, httperr.Internal(fmt.Errorf("hash password: %w", err))
	}
	return User{ID: ids.New(ids.User), Email: in.Email, Name: in.Name, PasswordHash: hash}, nil
}

// VerifyPassword returns the user with this email when password is theirs.
func (s *Service) VerifyPassword(ctx context.Context, email, password string) (User, error) {
	u, err := s.store.UserByEmail(ctx, email)
	hash := u.PasswordHash
	if errors.Is(err, pg.ErrNotFound) {
		hash = s.dummyHash
	} else if err != nil {
		return User{}, httperr.Internal(err)
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return User{}, httperr.Internal(fmt.Errorf("compare password: %w", err))
	}
	if !ok || u.ID == "" {
		e := httperr.New(http.StatusUnauthorized, httperr.CodeBadCredentials, "The password is not correct.")
		e.Fields = map[string]string{"password": "The password is not correct."}
		return User{}, e
	}
	return u, nil
}

// StartSession signs a member in to an account (after accepting an invitation).
func (s *Service) StartSession(ctx context.Context, userID, accountID, ip, ua string) (Session, error) {
	v, err := s.store.ViewerByUser(ctx, userID, accountID)
	if err != nil {
		return Session{}, httperr.Internal(fmt.Errorf("load viewer: %w", err))
	}
	return s.startSession(ctx, v, ip, ua)
}

// UserExists reports whether someone has registered email.
func (s *Service) UserExists(ctx context.Context, email string) (bool, error) {
	_, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, pg.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SetSession replaces the browser's session with s (after accepting an invitation).
func (h *Handler) SetSession(c echo.Context, s Session) {
	h.endCurrent(c)
	h.setCookie(c, s)
}
