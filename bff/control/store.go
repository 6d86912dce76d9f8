// Package control is the bff's side of the edge control channel: edges dial in (TLS + yamux),
// introduce themselves, ask whether agents may sign in and bind, and report their sessions and
// tunnels, which are recorded in PostgreSQL. The bff sends stop and restart commands to the edge
// holding a session.
package control

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/edgeway/edgeway/internal/pg"
	"github.com/jackc/pgx/v5"
)

// Store is the SQL of edges, agent sessions and tunnels.
type Store struct{ db pg.DB }

// NewStore returns a Store on db.
func NewStore(db pg.DB) *Store { return &Store{db: db} }

// Session is a recorded agent session.
type Session struct {
	ID               string
	AccountID        string
	CredentialID     string
	EdgeID           string
	Region           string
	ClientID         string
	AgentVersion     string
	OS               string
	Arch             string
	Hostname         string
	Metadata         string
	IP               string
	Transport        string
	RemoteManagement bool
	StartedAt        time.Time
	StaleSince       *time.Time
}

// Tunnel is a recorded tunnel.
type Tunnel struct {
	ID         string
	SessionID  string
	AccountID  string
	Region     string
	Proto      string
	PublicURL  string
	ForwardsTo string
	Metadata   string
	StartedAt  time.Time
}

// Edge is a connected edge as the control plane records it.
type Edge struct {
	ID         string
	Region     string
	HTTPAddr   string
	HTTPSAddr  string
	AgentAddr  string
	BaseDomain string
	TCPPorts   string
}

// UpsertEdge records an edge as connected to bffID.
func (s *Store) UpsertEdge(ctx context.Context, h Edge, bffID string) error {
	_, err := s.db.Exec(ctx, `insert into edges (id, region, bff_id, http_addr, https_addr, agent_addr, base_domain, tcp_ports)
		values ($1, $2, $3, $4, $5, $6, $7, $8)
		on conflict (id) do update set bff_id = $3, connected = true, connected_at = now(), last_seen_at = now(),
			http_addr = $4, https_addr = $5, agent_addr = $6, base_domain = $7, tcp_ports = $8`,
		h.ID, h.Region, bffID, h.HTTPAddr, h.HTTPSAddr, h.AgentAddr, h.BaseDomain, h.TCPPorts)
	if err != nil {
		return fmt.Errorf("upsert edge %s: %w", h.ID, err)
	}
	return nil
}

// EdgeSeen records a heartbeat.
func (s *Store) EdgeSeen(ctx context.Context, edgeID string) error {
	_, err := s.db.Exec(ctx, `update edges set last_seen_at = now(), connected = true where id = $1`, edgeID)
	return err
}

// EdgeDisconnected marks an edge as having lost its channel and its sessions as stale.
func (s *Store) EdgeDisconnected(ctx context.Context, edgeID string) error {
	return pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update edges set connected = false where id = $1`, edgeID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `update tunnel_sessions set stale_since = now() where edge_id = $1 and stale_since is null`, edgeID)
		return err
	})
}

// IPOf returns the host of a "host:port" address.
func IPOf(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// upsertSession records a session; a session seen for the first time gets its
// agent_session_start event in the same transaction.
func upsertSession(ctx context.Context, db pg.DB, si Session) error {
	return pg.InTx(ctx, db, func(tx pgx.Tx) error {
		var inserted bool
		err := tx.QueryRow(ctx, `insert into tunnel_sessions (id, account_id, credential_id, edge_id, region, client_id,
				agent_version, os, arch, hostname, metadata, ip, transport, remote_management, started_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			on conflict (id) do update set edge_id = $4, stale_since = null
			returning (xmax = 0)`,
			si.ID, si.AccountID, si.CredentialID, si.EdgeID, si.Region, si.ClientID, si.AgentVersion, si.OS, si.Arch,
			si.Hostname, si.Metadata, si.IP, si.Transport, si.RemoteManagement, si.StartedAt).Scan(&inserted)
		if err != nil {
			return fmt.Errorf("upsert session %s: %w", si.ID, err)
		}
		if inserted {
			return writeSessionEvent(ctx, tx, EventSessionStart, si, "")
		}
		return nil
	})
}

// deleteSessions deletes the sessions matched by where (with args) and writes an
// agent_session_stop event for each, in one transaction. It returns the deleted sessions.
func deleteSessions(ctx context.Context, db pg.DB, stopErr, where string, args ...any) ([]Session, error) {
	var gone []Session
	err := pg.InTx(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `delete from tunnel_sessions where `+where+` returning `+sessionColumns, args...)
		if err != nil {
			return err
		}
		if gone, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Session]); err != nil {
			return err
		}
		for _, s := range gone {
			if err := writeSessionEvent(ctx, tx, EventSessionStop, s, stopErr); err != nil {
				return err
			}
		}
		return nil
	})
	return gone, err
}

func upsertTunnel(ctx context.Context, db pg.DB, ti Tunnel) error {
	_, err := db.Exec(ctx, `insert into tunnels (id, session_id, account_id, region, proto, public_url, forwards_to, metadata, started_at)
		select $1, s.id, s.account_id, $3, $4, $5, $6, $7, $8 from tunnel_sessions s where s.id = $2
		on conflict (id) do nothing`,
		ti.ID, ti.SessionID, ti.Region, ti.Proto, ti.PublicURL, ti.ForwardsTo, ti.Metadata, ti.StartedAt)
	if err != nil {
		return fmt.Errorf("upsert tunnel %s: %w", ti.ID, err)
	}
	return nil
}

// SessionStarted records a new session on an edge.
func (s *Store) SessionStarted(ctx context.Context, si Session) error {
	return upsertSession(ctx, s.db, si)
}

// SessionEnded deletes a session (and its tunnels) with its stop event; it returns the deleted
// row, if any.
func (s *Store) SessionEnded(ctx context.Context, id, stopErr string) (*Session, error) {
	sess, err := deleteSessions(ctx, s.db, stopErr, `id = $1`, id)
	if err != nil || len(sess) == 0 {
		return nil, err
	}
	return &sess[0], nil
}

// TunnelStarted records a tunnel.
func (s *Store) TunnelStarted(ctx context.Context, ti Tunnel) error {
	return upsertTunnel(ctx, s.db, ti)
}

// TunnelEnded deletes a tunnel.
func (s *Store) TunnelEnded(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `delete from tunnels where id = $1`, id)
	return err
}

// Reconcile makes the recorded sessions and tunnels of an edge exactly those of its snapshot.
// It returns the ids of sessions that were recorded but are gone.
func (s *Store) Reconcile(ctx context.Context, edgeID string, sessions []Session, tunnels []Tunnel) ([]string, error) {
	var gone []string
	err := pg.InTx(ctx, s.db, func(tx pgx.Tx) error {
		live := make([]string, 0, len(sessions))
		for _, si := range sessions {
			live = append(live, si.ID)
			if err := upsertSession(ctx, tx, si); err != nil {
				return err
			}
		}
		ended, err := deleteSessions(ctx, tx, "the session ended while its edge was away from the control plane",
			`edge_id = $1 and not (id = any($2))`, edgeID, live)
		if err != nil {
			return err
		}
		for _, s := range ended {
			gone = append(gone, s.ID)
		}
		tunnelIDs := make([]string, 0, len(tunnels))
		for _, ti := range tunnels {
			tunnelIDs = append(tunnelIDs, ti.ID)
			if err := upsertTunnel(ctx, tx, ti); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `delete from tunnels t using tunnel_sessions s
			where t.session_id = s.id and s.edge_id = $1 and not (t.id = any($2))`, edgeID, tunnelIDs)
		return err
	})
	return gone, err
}

const sessionColumns = `id, account_id, credential_id, edge_id, region, client_id, agent_version, os, arch, hostname,
	metadata, ip, transport, remote_management, started_at, stale_since`

// Session returns one session of the account.
func (s *Store) Session(ctx context.Context, accountID, id string) (Session, error) {
	rows, err := s.db.Query(ctx, `select `+sessionColumns+` from tunnel_sessions where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return Session{}, err
	}
	sess, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Session])
	return sess, pg.Map(err)
}

// Sessions lists up to limit sessions of the account below beforeID, newest first.
func (s *Store) Sessions(ctx context.Context, accountID, beforeID string, limit int) ([]Session, error) {
	rows, err := s.db.Query(ctx, `select `+sessionColumns+` from tunnel_sessions
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Session])
}

// SessionsOfCredential lists the live sessions signed in with a credential.
func (s *Store) SessionsOfCredential(ctx context.Context, accountID, credentialID string) ([]Session, error) {
	rows, err := s.db.Query(ctx, `select `+sessionColumns+` from tunnel_sessions where account_id = $1 and credential_id = $2`, accountID, credentialID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Session])
}

const tunnelColumns = `id, session_id, account_id, region, proto, public_url, forwards_to, metadata, started_at`

// Tunnels lists up to limit tunnels of the account below beforeID, newest first.
func (s *Store) Tunnels(ctx context.Context, accountID, beforeID string, limit int) ([]Tunnel, error) {
	rows, err := s.db.Query(ctx, `select `+tunnelColumns+` from tunnels
		where account_id = $1 and ($2 = '' or id < $2) order by id desc limit $3`, accountID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Tunnel])
}

// Tunnel returns one tunnel of the account.
func (s *Store) Tunnel(ctx context.Context, accountID, id string) (Tunnel, error) {
	rows, err := s.db.Query(ctx, `select `+tunnelColumns+` from tunnels where account_id = $1 and id = $2`, accountID, id)
	if err != nil {
		return Tunnel{}, err
	}
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Tunnel])
	return t, pg.Map(err)
}

// TunnelsOfSessions returns the tunnels of the given sessions, keyed by session id.
func (s *Store) TunnelsOfSessions(ctx context.Context, sessionIDs []string) (map[string][]Tunnel, error) {
	rows, err := s.db.Query(ctx, `select `+tunnelColumns+` from tunnels where session_id = any($1) order by id`, sessionIDs)
	if err != nil {
		return nil, err
	}
	ts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Tunnel])
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Tunnel, len(sessionIDs))
	for _, t := range ts {
		out[t.SessionID] = append(out[t.SessionID], t)
	}
	return out, nil
}

// Reap removes sessions that have been stale (their edge gone) for longer than grace, and edges
// without sessions that have not been seen for as long. It returns the removed session ids.
func (s *Store) Reap(ctx context.Context, grace time.Duration) ([]string, error) {
	ended, err := deleteSessions(ctx, s.db, "its edge stayed unreachable", `stale_since < now() - make_interval(secs => $1)`, grace.Seconds())
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, s := range ended {
		gone = append(gone, s.ID)
	}
	_, err = s.db.Exec(ctx, `delete from edges e where not e.connected and e.last_seen_at < now() - make_interval(secs => $1)
		and not exists (select 1 from tunnel_sessions s where s.edge_id = e.id)`, grace.Seconds())
	return gone, err
}

// EdgeBff returns which bff holds an edge's channel, and whether it is connected.
func (s *Store) EdgeBff(ctx context.Context, edgeID string) (string, bool, error) {
	var bff string
	var connected bool
	err := s.db.QueryRow(ctx, `select bff_id, connected from edges where id = $1`, edgeID).Scan(&bff, &connected)
	return bff, connected, pg.Map(err)
}

// SessionFilter narrows the Agents page.
type SessionFilter struct {
	Region string
	Query  string // matched against IP, hostname and tunnel URLs
}

const filterWhere = `account_id = $1 and ($2 = '' or region = $2) and ($3 = '' or ip ilike '%' || $3 || '%'
	or hostname ilike '%' || $3 || '%' or id = $3
	or exists (select 1 from tunnels t where t.session_id = tunnel_sessions.id and t.public_url ilike '%' || $3 || '%'))`

// FilteredSessions returns up to limit sessions matching f, newest first, and how many match.
func (s *Store) FilteredSessions(ctx context.Context, accountID string, f SessionFilter, limit int) ([]Session, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, `select count(*) from tunnel_sessions where `+filterWhere, accountID, f.Region, f.Query).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, `select `+sessionColumns+` from tunnel_sessions where `+filterWhere+` order by id desc limit $4`,
		accountID, f.Region, f.Query, limit)
	if err != nil {
		return nil, 0, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Session])
	return list, total, err
}

// RegionCounts returns the number of sessions per region of the account.
func (s *Store) RegionCounts(ctx context.Context, accountID string) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `select region, count(*) from tunnel_sessions where account_id = $1 group by region`, accountID)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var r string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&r, &n}, func() error { out[r] = n; return nil })
	return out, err
}

// CredentialGone reports whether a credential no longer exists (it was revoked).
func (s *Store) CredentialGone(ctx context.Context, credentialID string) (bool, error) {
	var exists bool
	err := s.db.QueryRow(ctx, `select exists (select 1 from credentials where id = $1)`, credentialID).Scan(&exists)
	return !exists, err
}

// HistoryPoints is how many points RegionHistory returns: one every 5 minutes over the last hour.
const HistoryPoints = 13

// RegionHistory returns, per region, the number of live sessions at each of HistoryPoints
// instants over the last hour (oldest first, the last one now). It is derived from the current
// sessions and the agent_session_start/stop events of the hour, so it needs no sampler and is the
// same on every bff replica.
func (s *Store) RegionHistory(ctx context.Context, accountID string, now time.Time) (map[string][]int, error) {
	current, err := s.RegionCounts(ctx, accountID)
	if err != nil {
		return nil, err
	}
	start := now.Add(-time.Hour)
	rows, err := s.db.Query(ctx, `select event_type, coalesce(object->>'region', ''), created_at from audit_events
		where account_id = $1 and event_type in ($2, $3) and created_at > $4`, accountID, EventSessionStart, EventSessionStop, start)
	if err != nil {
		return nil, err
	}
	type change struct {
		at    time.Time
		delta int
	}
	changes := map[string][]change{}
	var typ, reg string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&typ, &reg, &at}, func() error {
		d := 1
		if typ == EventSessionStop {
			d = -1
		}
		changes[reg] = append(changes[reg], change{at, d})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for r := range changes {
		if _, ok := current[r]; !ok {
			current[r] = 0
		}
	}
	for r, n := range current {
		pts := make([]int, HistoryPoints)
		for i := range pts {
			t := start.Add(time.Duration(i) * 5 * time.Minute)
			v := n
			for _, c := range changes[r] {
				if c.at.After(t) {
					v -= c.delta // undo what happened after t
				}
			}
			pts[i] = max(v, 0)
		}
		out[r] = pts
	}
	return out, nil
}
