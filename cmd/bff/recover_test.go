package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRecoverPrintsALink(t *testing.T) {
	dbURL := pgtest.URL(t)
	ctx := t.Context()
	if err := seed(ctx, []string{"-database-url", dbURL, "-email", "admin@example.com", "-password", "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := recoverAccess(ctx, []string{"-database-url", dbURL, "-public-url", "https://dash.example.com/", "--email", "Admin@Example.com"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^https://dash\.example\.com/ip-recovery/ewr_\S+\n$`).MatchString(out.String()) {
		t.Fatalf("printed %q", out.String())
	}
	err := recoverAccess(ctx, []string{"-database-url", dbURL, "--email", "nobody@example.com"}, &out)
	if err == nil || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Fatalf("unknown email: %v", err)
	}
	if err := recoverAccess(ctx, []string{"-database-url", dbURL}, &out); err == nil {
		t.Fatal("no --email accepted")
	}
}
