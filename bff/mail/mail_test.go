package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/mailpittest"
	"github.com/edgeway/edgeway/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

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
	w := NewWorker(log, db, mailpittest.FreeAddr(t), "Edgeway <no-reply@edgeway.local>")
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
	smtpAddr, apiURL := mailpittest.Start(t)
	if _, err := db.Exec(ctx, `update mail_outbox set next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	w = NewWorker(log, db, smtpAddr, "Edgeway <no-reply@edgeway.local>")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	w.Kick()
	var msgs []mailpittest.Message
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if msgs = mailpittest.Messages(t, apiURL, false); len(msgs) > 0 {
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
	w := NewWorker(slog.New(slog.NewTextHandler(io.Discard, nil)), db, mailpittest.FreeAddr(t), "Edgeway <no-reply@edgeway.local>")
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
