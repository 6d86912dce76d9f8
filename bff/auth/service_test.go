package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPolicy is DefaultPolicy with cheap hashing, so tests stay fast.
var TestPolicy = Policy{
	SessionTTL: time.Hour, ThrottleWindow: 15 * time.Minute, MaxFailsByIP: 8, MaxFailsByEmail: 3,
	Argon: &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
}

func newService(t *testing.T) (*Service, *pgxpool.Pool) {
	t.Helper()
	db := pgtest.New(t)
	svc, err := NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), NewStore(db), TestPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return svc, db
}

func count(t *testing.T, db *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignupValidation(t *testing.T) {
	valid := SignupInput{AccountName: "Acme", Name: "Ada", Email: "ada@example.com", Password: "correct horse"}
	tests := []struct {
		name   string
		mutate func(*SignupInput)
		fields []string
	}{
		{"valid", func(*SignupInput) {}, nil},
		{"everything missing", func(in *SignupInput) { *in = SignupInput{} }, []string{"account_name", "name", "email", "password"}},
		{"short password", func(in *SignupInput) { in.Password = "short" }, []string{"password"}},
		{"huge password", func(in *SignupInput) { in.Password = strings.Repeat("x", 300) }, []string{"password"}},
		{"bad email", func(in *SignupInput) { in.Email = "not-an-email" }, []string{"email"}},
		{"email with display name", func(in *SignupInput) { in.Email = "Ada <ada@example.com>" }, []string{"email"}},
		{"email without domain dot", func(in *SignupInput) { in.Email = "ada@example" }, []string{"email"}},
		{"long account name", func(in *SignupInput) { in.AccountName = strings.Repeat("a", 81) }, []string{"account_name"}},
		{"control characters", func(in *SignupInput) { in.Name = "Ada\x00" }, []string{"name"}},
		{"blank after trim", func(in *SignupInput) { in.Name = "   " }, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			tt.mutate(&in)
			in.Normalize()
			errs := in.Validate()
			if len(errs) != len(tt.fields) {
				t.Fatalf("Validate() = %v, want problems with %v", errs, tt.fields)
			}
			for _, f := range tt.fields {
				if errs[f] == "" {
					t.Errorf("no problem reported for %s: %v", f, errs)
				}
			}
		})
	}
}

func TestSignupCreatesAccountAndSession(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	s, err := svc.Signup(ctx, SignupInput{AccountName: " Acme ", Name: "Ada", Email: "Ada@Example.com", Password: "correct horse"}, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if s.Viewer.AccountName != "Acme" || s.Viewer.Email != "Ada@Example.com" || len(s.Viewer.Roles) != 1 || s.Viewer.Roles[0] != RoleAdmin {
		t.Fatalf("viewer = %+v", s.Viewer)
	}
	v, ok, err := svc.Resolve(ctx, s.Token)
	if err != nil || !ok || v.UserID != s.Viewer.UserID {
		t.Fatalf("Resolve = %+v %v %v", v, ok, err)
	}
	var stored string
	if err := db.QueryRow(ctx, "select password_hash from users").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "correct horse") {
		t.Fatalf("password stored as %q, want an argon2id hash", stored)
	}
	var tokenInDB int
	if err := db.QueryRow(ctx, "select count(*) from web_sessions where encode(token_hash, 'escape') like '%' || $1 || '%'", s.Token).Scan(&tokenInDB); err != nil {
		t.Fatal(err)
	}
	if tokenInDB != 0 {
		t.Fatal("the session token is stored in clear")
	}
}

func TestDuplicateEmailLeavesNothingBehind(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	if _, err := svc.Signup(ctx, SignupInput{AccountName: "One", Name: "Ada", Email: "ada@example.com", Password: "correct horse"}, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Signup(ctx, SignupInput{AccountName: "Two", Name: "Other", Email: "ADA@example.com", Password: "another password"}, "", "")
	e, ok := httperr.As(err)
	if !ok || e.Code != httperr.CodeEmailTaken || e.Status != http.StatusConflict || e.Fields["email"] == "" {
		t.Fatalf("err = %v, want %s with an email field error", err, httperr.CodeEmailTaken)
	}
	if n := count(t, db, "accounts"); n != 1 {
		t.Fatalf("%d accounts after a refused sign-up, want 1 (the refused one must be rolled back)", n)
	}
}

func TestLoginAndThrottling(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	if _, err := svc.Signup(ctx, SignupInput{AccountName: "Acme", Name: "Ada", Email: "ada@example.com", Password: "correct horse"}, "", ""); err != nil {
		t.Fatal(err)
	}
	code := func(err error) string {
		if e, ok := httperr.As(err); ok {
			return e.Code
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	if _, err := svc.Login(ctx, "ada@example.com", "correct horse", "10.0.0.1", ""); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := svc.Login(ctx, "nobody@example.com", "whatever123", "10.0.0.1", ""); code(err) != httperr.CodeBadCredentials {
		t.Fatalf("unknown email: %v", err)
	}
	// Per email: MaxFailsByEmail failures, then refused even with the right password.
	for i := 0; i < TestPolicy.MaxFailsByEmail; i++ {
		if _, err := svc.Login(ctx, "ada@example.com", "wrong", "10.0.0.2", ""); code(err) != httperr.CodeBadCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := svc.Login(ctx, "ada@example.com", "correct horse", "10.0.0.3", "")
	if code(err) != httperr.CodeLoginThrottled || !strings.Contains(err.Error(), "for this email") {
		t.Fatalf("after %d failures: %v, want throttled for this email", TestPolicy.MaxFailsByEmail, err)
	}
	// Per IP: failures spread over many emails from one address.
	for i := 0; i < TestPolicy.MaxFailsByIP; i++ {
		_, _ = svc.Login(ctx, "x"+string(rune('a'+i))+"@example.com", "wrong", "10.0.0.9", "")
	}
	if _, err := svc.Login(ctx, "fresh@example.com", "whatever123", "10.0.0.9", ""); code(err) != httperr.CodeLoginThrottled {
		t.Fatalf("per-IP throttle: %v", err)
	}
	// Time passes: the window slides and the user may sign in again.
	svc.now = func() time.Time { return time.Now().Add(TestPolicy.ThrottleWindow + time.Minute) }
	if _, err := svc.Login(ctx, "ada@example.com", "correct horse", "10.0.0.3", ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLogoutEndsSession(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	s, err := svc.Signup(ctx, SignupInput{AccountName: "Acme", Name: "Ada", Email: "ada@example.com", Password: "correct horse"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Logout(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := svc.Resolve(ctx, s.Token); ok || err != nil {
		t.Fatalf("session still valid after logout: %v %v", ok, err)
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		created, err := svc.Seed(ctx, "Demo", "Demo Admin", "admin@edgeway.local", "demo-password-1", false)
		if err != nil || created != want {
			t.Fatalf("seed %d: created=%v err=%v, want %v", i, created, err, want)
		}
	}
	// Without reset the password stays; with reset it changes.
	if _, err := svc.Seed(ctx, "Demo", "Demo Admin", "admin@edgeway.local", "other-password-2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "admin@edgeway.local", "demo-password-1", "", ""); err != nil {
		t.Fatalf("seed without reset changed the password: %v", err)
	}
	if _, err := svc.Seed(ctx, "Demo", "Demo Admin", "admin@edgeway.local", "other-password-2", true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Login(ctx, "admin@edgeway.local", "other-password-2", "", ""); err != nil {
		t.Fatalf("seed with reset did not set the password: %v", err)
	}
	if n := count(t, db, "users"); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	if _, err := svc.Seed(ctx, "Demo", "Demo Admin", "x@edgeway.local", "short", false); err == nil || errors.Is(err, context.Canceled) {
		t.Fatal("seed accepted a short password")
	}
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", "", "a@b", "<a@b.co>", "a b@c.de", "ä@ö.de", "a@localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateEmail(s) == "" && (len(s) > MaxEmailLen || !strings.Contains(s, "@")) {
			t.Fatalf("accepted %q", s)
		}
	})
}
