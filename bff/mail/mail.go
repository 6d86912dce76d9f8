// Package mail sends email through an outbox: a change that sends mail (an invitation, a recovery
// link, a billing notice) writes the message to the mail_outbox table in its own transaction, and
// a worker delivers due messages over SMTP, retrying with exponential backoff, so a mail is sent
// if and only if the change committed. Several bff replicas may run the worker: each message is
// claimed with FOR UPDATE SKIP LOCKED.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Message is one email to send.
type Message struct {
	AccountID string // may be empty for mail outside an account
	To        string
	Subject   string
	Body      string // plain text
}

// Enqueue writes m to the outbox on db: pass the transaction of the change that sends it.
func Enqueue(ctx context.Context, db pg.DB, m Message) error {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("enqueue mail: bad recipient %q: %w", m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("enqueue mail: subject has a line break")
	}
	var account *string
	if m.AccountID != "" {
		account = &m.AccountID
	}
	_, err := db.Exec(ctx, `insert into mail_outbox (account_id, to_addr, subject, body_text) values ($1, $2, $3, $4)`,
		account, m.To, m.Subject, m.Body)
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

// Worker delivers the outbox over SMTP.
type Worker struct {
	log  *slog.Logger
	db   pg.DB
	addr string // SMTP server host:port
	from string // From header, e.g. "Edgeway <no-reply@edgeway.local>"

	// PollInterval is how often the outbox is checked when nothing kicks the worker.
	PollInterval time.Duration
	// MaxAttempts is how many times a message is tried before it is marked failed.
	MaxAttempts int
	// Backoff returns the wait before attempt n+1 after n failed attempts.
	Backoff func(n int) time.Duration

	kick chan struct{}
}

// NewWorker returns a Worker sending through the SMTP server at addr as from.
func NewWorker(log *slog.Logger, db pg.DB, addr, from string) *Worker {
	return &Worker{log: log, db: db, addr: addr, from: from, PollInterval: 5 * time.Second, MaxAttempts: 8,
		Backoff: DefaultBackoff, kick: make(chan struct{}, 1)}
}

// DefaultBackoff doubles from 10 seconds up to an hour: 10s, 20s, 40s ... 1h.
func DefaultBackoff(n int) time.Duration {
	d := 10 * time.Second << min(n-1, 10)
	return min(d, time.Hour)
}

// Kick asks the worker to look at the outbox now (after enqueuing, once the transaction committed).
func (w *Worker) Kick() {
	if w == nil {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := w.SendDue(ctx)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("mail outbox", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

type outboxRow struct {
	ID       int64
	To       string
	Subject  string
	Body     string
	Attempts int
}

// SendDue claims up to 10 due messages and tries each once; it returns how many it tried.
func (w *Worker) SendDue(ctx context.Context) (int, error) {
	tried := 0
	err := pg.InTx(ctx, w.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id, to_addr, subject, body_text, attempts from mail_outbox
			where sent_at is null and failed_at is null and next_attempt_at <= now()
			order by id limit 10 for update skip locked`)
		if err != nil {
			return fmt.Errorf("claim mail: %w", err)
		}
		msgs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
		if err != nil {
			return fmt.Errorf("claim mail: %w", err)
		}
		for _, m := range msgs {
			tried++
			sendErr := w.send(ctx, m)
			if sendErr == nil {
				if _, err := tx.Exec(ctx, `update mail_outbox set sent_at = now(), attempts = attempts + 1, last_error = '' where id = $1`, m.ID); err != nil {
					return err
				}
				w.log.Info("mail sent", "mail_id", m.ID, "to", m.To)
				continue
			}
			n := m.Attempts + 1
			if n >= w.MaxAttempts {
				_, err = tx.Exec(ctx, `update mail_outbox set attempts = $2, last_error = $3, failed_at = now() where id = $1`,
					m.ID, n, sendErr.Error())
				w.log.Error("mail failed for good", "mail_id", m.ID, "to", m.To, "attempts", n, "err", sendErr)
			} else {
				_, err = tx.Exec(ctx, `update mail_outbox set attempts = $2, last_error = $3, next_attempt_at = now() + $4 where id = $1`,
					m.ID, n, sendErr.Error(), w.Backoff(n))
				w.log.Warn("mail not sent; will retry", "mail_id", m.ID, "to", m.To, "attempts", n, "err", sendErr)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return tried, err
}

func (w *Worker) send(ctx context.Context, m outboxRow) error {
	if w.addr == "" {
		return errors.New("no SMTP server configured (set EDGEWAY_SMTP_ADDR)")
	}
	from, err := mail.ParseAddress(w.from)
	if err != nil {
		return fmt.Errorf("from address %q: %w", w.from, err)
	}
	msg := Format(from, m.To, m.Subject, m.Body, time.Now())
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return fmt.Errorf("dial smtp %s: %w", w.addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	host, _, _ := net.SplitHostPort(w.addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := wc.Write(msg); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	return c.Quit()
}

// Format renders a plain-text message with its headers (RFC 5322, CRLF line endings).
func Format(from *mail.Address, to, subject, body string, now time.Time) []byte {
	var b bytes.Buffer
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	domain := "edgeway.local"
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
		domain = from.Address[at+1:]
	}
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	// net/smtp's DATA writer does the dot-stuffing.
	body = strings.TrimSuffix(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}
