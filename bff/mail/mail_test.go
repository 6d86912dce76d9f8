package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mailpit starts the real local mail server on free ports and returns its SMTP address and API base URL.
func mailpit(t *testing.T) (smtpAddr, apiURL string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "bin", "mailpit")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("mailpit"); err != nil {
			t.Skip("mailpit is not installed (make test installs it into .tools/bin)")
		}
	}
	smtpAddr, httpAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(t.TempDir(), "mail.db"),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check", "--quiet")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	apiURL = "http://" + httpAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(apiURL + "/api/v1/messages")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", smtpAddr); err == nil {
				c.Close()
				return smtpAddr, apiURL
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type mailpitMessage struct {
	ID      string
	Subject string
	To      []struct{ Address string }
}

func messages(t *testing.T, apiURL string) []mailpitMessage {
	t.Helper()
	resp, err := http.Get(apiURL + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Messages []mailpitMessage }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

func TestOutboxRetriesThenDeliversOverSMTP(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acct := ids.New(ids.Account)
	if _, err := db.Exec(ctx, `insert into accounts (id, name) values ($1, 'Acme')`, acct); err != nil {
		t.Fatal(err)
	}
	body := "Hello Ada,\n.\nA line that starts with a dot, and é.\n"
	if err := Enqueue(ctx, db, Message{AccountID: acct, To: "ada@example.com", Subject: "Join Acme on Edgeway", Body: body}); err != nil {
		t.Fatal(err)
	}
	if err := Enqueue(ctx, db, Message{To: "not an address", Subject: "x"}); err == nil {
		t.Fatal("enqueued a bad recipient")
	}

	// No server listening: the attempt fails and is retried later, with backoff.
	w := NewWorker(log, db, freeAddr(t), "Edgeway <no-reply@edgeway.local>")
	w.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Hour }
	if n, err := w.SendDue(ctx); err != nil || n != 1 {
		t.Fatalf("SendDue = %d, %v", n, err)
	}
	var attempts int
	var lastErr string
	var wait float64
	if err := db.QueryRow(ctx, `select attempts, last_error, extract(epoch from next_attempt_at - now()) from mail_outbox`).
		Scan(&attempts, &lastErr, &wait); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !strings.Contains(lastErr, "dial smtp") || wait < 3500 {
		t.Fatalf("after a failure: attempts=%d last_error=%q retry in %.0fs", attempts, lastErr, wait)
	}
	if n, _ := w.SendDue(ctx); n != 0 {
		t.Fatalf("retried before the backoff: %d", n)
	}

	// The server is back: the next due attempt delivers it.
	smtpAddr, apiURL := mailpit(t)
	if _, err := db.Exec(ctx, `update mail_outbox set next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	w = NewWorker(log, db, smtpAddr, "Edgeway <no-reply@edgeway.local>")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	w.Kick()
	var msgs []mailpitMessage
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if msgs = messages(t, apiURL); len(msgs) > 0 {
			break
		}
	}
	if len(msgs) != 1 || msgs[0].Subject != "Join Acme on Edgeway" || msgs[0].To[0].Address != "ada@example.com" {
		t.Fatalf("mailpit has %+v", msgs)
	}
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/message/%s", apiURL, msgs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var full struct{ Text string }
	if err := json.NewDecoder(resp.Body).Decode(&full); err != nil {
		t.Fatal(err)
	}
	if strings.ReplaceAll(full.Text, "\r\n", "\n") != body {
		t.Fatalf("body = %q, want %q", full.Text, body)
	}
	var sent bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !sent; time.Sleep(20 * time.Millisecond) {
		if err := db.QueryRow(ctx, `select sent_at is not null from mail_outbox`).Scan(&sent); err != nil {
			t.Fatal(err)
		}
	}
	if !sent {
		t.Fatal("outbox row not marked sent")
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if err := Enqueue(ctx, db, Message{To: "ada@example.com", Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	w := NewWorker(slog.New(slog.NewTextHandler(io.Discard, nil)), db, freeAddr(t), "Edgeway <no-reply@edgeway.local>")
	w.MaxAttempts = 2
	w.Backoff = func(int) time.Duration { return 0 }
	for range 3 {
		if _, err := w.SendDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var attempts int
	var failed bool
	if err := db.QueryRow(ctx, `select attempts, failed_at is not null from mail_outbox`).Scan(&attempts, &failed); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || !failed {
		t.Fatalf("attempts=%d failed=%v, want 2 and true", attempts, failed)
	}
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 20: time.Hour} {
		if got := DefaultBackoff(n); got != want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", n, got, want)
		}
	}
}
