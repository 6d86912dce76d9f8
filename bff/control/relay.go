package control

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CommandChannel is the PostgreSQL channel that carries session commands between bff replicas:
// a bff asked to stop a session whose edge is connected to another replica relays the command
// there and waits for the answer on the same channel.
const CommandChannel = "edgeway_commands"

// relayTimeout bounds the wait for another replica's answer.
const relayTimeout = 12 * time.Second

// relayMsg is a relayed command or its answer.
type relayMsg struct {
	Kind      string `json:"kind"` // "command" or "result"
	ID        string `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	AccountID string `json:"account_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Action    string `json:"action,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// The answer: empty Code means done.
	Status int    `json:"status,omitempty"`
	Code   string `json:"code,omitempty"`
	Msg    string `json:"msg,omitempty"`
}

// relay sends commands to other replicas and serves theirs.
type relay struct {
	pool *pgxpool.Pool
	self string

	mu      sync.Mutex
	pending map[string]chan relayMsg

	readyOnce sync.Once
	ready     chan struct{} // closed once the first LISTEN is in place
}

func newRelay(pool *pgxpool.Pool, self string) *relay {
	return &relay{pool: pool, self: self, pending: map[string]chan relayMsg{}, ready: make(chan struct{})}
}

func (r *relay) notify(ctx context.Context, m relayMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = r.pool.Exec(ctx, `select pg_notify($1, $2)`, CommandChannel, string(b))
	return err
}

// send relays a command to the replica holding the edge and waits for its answer.
func (r *relay) send(ctx context.Context, to, accountID, sessionID, action, reason string) error {
	m := relayMsg{Kind: "command", ID: ids.New(ids.Operation), From: r.self, To: to, AccountID: accountID,
		SessionID: sessionID, Action: action, Reason: reason}
	ch := make(chan relayMsg, 1)
	r.mu.Lock()
	r.pending[m.ID] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pending, m.ID)
		r.mu.Unlock()
	}()
	if err := r.notify(ctx, m); err != nil {
		return httperr.Internal(err)
	}
	select {
	case res := <-ch:
		if res.Code == "" {
			return nil
		}
		return httperr.New(res.Status, res.Code, res.Msg)
	case <-time.After(relayTimeout):
		return httperr.New(http.StatusGatewayTimeout, CodeEdgeUnavailable, "The control-plane replica holding the session's edge did not answer in time; try again.")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// listen serves relayed commands addressed to this replica (with exec) and delivers answers to
// waiting senders, until ctx ends.
func (r *relay) listen(ctx context.Context, exec func(ctx context.Context, m relayMsg) error, onErr func(error)) {
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, exec)
		if ctx.Err() != nil {
			return
		}
		onErr(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *relay) listenOnce(ctx context.Context, exec func(ctx context.Context, m relayMsg) error) error {
	pc, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "listen "+CommandChannel); err != nil {
		return err
	}
	r.readyOnce.Do(func() { close(r.ready) })
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var m relayMsg
		if json.Unmarshal([]byte(n.Payload), &m) != nil || m.To != r.self {
			continue
		}
		switch m.Kind {
		case "result":
			r.mu.Lock()
			ch := r.pending[m.ID]
			r.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case "command":
			go func(m relayMsg) {
				res := relayMsg{Kind: "result", ID: m.ID, From: r.self, To: m.From}
				if err := exec(ctx, m); err != nil {
					e, ok := httperr.As(err)
					if !ok {
						e = httperr.Internal(err)
					}
					res.Status, res.Code, res.Msg = e.Status, e.Code, e.Msg
				}
				nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = r.notify(nctx, res)
			}(m)
		}
	}
}

// SessionEdge returns the edge that holds the message's session ("" when unknown).
func (m relayMsg) SessionEdge(ctx context.Context, store *Store) string {
	var edge string
	_ = store.db.QueryRow(ctx, `select edge_id from tunnel_sessions where id = $1 and account_id = $2`, m.SessionID, m.AccountID).Scan(&edge)
	return edge
}
