package control

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/bff/live"
	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the PostgreSQL channel on which any bff announces that an account's sessions
// changed; every bff listens and refreshes its own subscribers, so a browser on one replica sees
// sessions reported to another.
const NotifyChannel = "edgeway_sessions"

// PageSize is how many sessions the Agents page shows (the rest is reached by filtering).
const PageSize = 50

// Feed keeps the Agents pages live: it turns session changes into re-rendered fragments for each
// subscribed (account, filter, role) and publishes them to the hub.
type Feed struct {
	log      *slog.Logger
	store    *Store
	hub      *live.Hub
	pool     *pgxpool.Pool
	coalesce time.Duration

	mu      sync.Mutex
	pending map[string]struct{}
	timer   *time.Timer

	readyOnce sync.Once
	ready     chan struct{} // closed once the first LISTEN is in place
}

// Ready is closed once the feed listens for changes from every bff.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// NewFeed returns a Feed; call Listen to receive changes from every bff.
func NewFeed(log *slog.Logger, store *Store, hub *live.Hub, pool *pgxpool.Pool) *Feed {
	return &Feed{log: log.With("component", "agents_feed"), store: store, hub: hub, pool: pool,
		coalesce: 25 * time.Millisecond, pending: map[string]struct{}{}, ready: make(chan struct{})}
}

// SessionsChanged announces a change of an account's sessions to every bff (it implements
// Observer). It does not wait for the database.
func (f *Feed) SessionsChanged(accountID string, _ ...string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := f.pool.Exec(ctx, `select pg_notify($1, $2)`, NotifyChannel, accountID); err != nil {
			f.log.Warn("notify session change", "account_id", accountID, "err", err)
			f.schedule(accountID) // at least this replica's tabs stay current
		}
	}()
}

// Listen receives change announcements until ctx ends, reconnecting as needed. After each
// (re)connect it refreshes every subscribed account, covering announcements it missed.
func (f *Feed) Listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("session change listener lost its connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (f *Feed) listenOnce(ctx context.Context) error {
	pc, err := f.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "listen "+NotifyChannel); err != nil {
		return err
	}
	f.readyOnce.Do(func() { close(f.ready) })
	f.scheduleAllSubscribed()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		f.schedule(n.Payload)
	}
}

func (f *Feed) scheduleAllSubscribed() {
	seen := map[string]bool{}
	for _, t := range f.hub.Topics("agents|") {
		if k, ok := parseTopic(t); ok && !seen[k.AccountID] {
			seen[k.AccountID] = true
			f.schedule(k.AccountID)
		}
	}
}

// schedule refreshes an account's subscribers soon, coalescing bursts of changes.
func (f *Feed) schedule(accountID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending[accountID] = struct{}{}
	if f.timer == nil {
		f.timer = time.AfterFunc(f.coalesce, f.flush)
	}
}

func (f *Feed) flush() {
	f.mu.Lock()
	accounts := f.pending
	f.pending = map[string]struct{}{}
	f.timer = nil
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for account := range accounts {
		for _, topic := range f.hub.Topics("agents|" + account + "|") {
			k, ok := parseTopic(topic)
			if !ok {
				continue
			}
			html, err := f.Render(ctx, k)
			if err != nil {
				f.log.Error("render agents fragment", "account_id", account, "err", err)
				continue
			}
			f.hub.Publish(topic, html)
		}
	}
}

// ViewKey is what one live Agents page shows: whose sessions, which filter, with or without the
// manage buttons. Tabs with the same key share one rendering.
type ViewKey struct {
	AccountID string
	Filter    SessionFilter
	CanManage bool
}

// Topic is the hub topic of a key.
func (k ViewKey) Topic() string {
	m := "0"
	if k.CanManage {
		m = "1"
	}
	return "agents|" + k.AccountID + "|" + m + "|" + url.Values{"region": {k.Filter.Region}, "q": {k.Filter.Query}}.Encode()
}

func parseTopic(t string) (ViewKey, bool) {
	parts := strings.SplitN(t, "|", 4)
	if len(parts) != 4 || parts[0] != "agents" {
		return ViewKey{}, false
	}
	q, err := url.ParseQuery(parts[3])
	if err != nil {
		return ViewKey{}, false
	}
	return ViewKey{AccountID: parts[1], CanManage: parts[2] == "1", Filter: SessionFilter{Region: q.Get("region"), Query: q.Get("q")}}, true
}

// View loads what a key shows.
func (f *Feed) View(ctx context.Context, k ViewKey) (frontend.AgentsView, error) {
	return View(ctx, f.store, k)
}

// View loads the Agents page's data for a key.
func View(ctx context.Context, store *Store, k ViewKey) (frontend.AgentsView, error) {
	v := frontend.AgentsView{Region: k.Filter.Region, Query: k.Filter.Query, CanManage: k.CanManage, Limit: PageSize}
	sessions, total, err := store.FilteredSessions(ctx, k.AccountID, k.Filter, PageSize)
	if err != nil {
		return v, err
	}
	v.Total = total
	counts, err := store.RegionCounts(ctx, k.AccountID)
	if err != nil {
		return v, err
	}
	for _, r := range region.All() {
		v.Counts = append(v.Counts, frontend.RegionCount{Code: string(r.Code), Name: r.Name, Count: counts[string(r.Code)]})
	}
	history, err := store.RegionHistory(ctx, k.AccountID, time.Now())
	if err != nil {
		return v, err
	}
	for _, r := range region.All() {
		if pts, ok := history[string(r.Code)]; ok {
			v.Chart = append(v.Chart, frontend.ChartSeries{Region: string(r.Code), Points: pts})
		}
	}
	idList := make([]string, len(sessions))
	for i, s := range sessions {
		idList[i] = s.ID
	}
	tunnels, err := store.TunnelsOfSessions(ctx, idList)
	if err != nil {
		return v, err
	}
	for _, s := range sessions {
		v.Rows = append(v.Rows, Row(s, tunnels[s.ID]))
	}
	return v, nil
}

// Row builds the page row of a session.
func Row(s Session, tunnels []Tunnel) frontend.SessionRow {
	r := frontend.SessionRow{ID: s.ID, AgentVersion: s.AgentVersion, Hostname: s.Hostname, OS: s.OS, Arch: s.Arch,
		IP: s.IP, Region: s.Region, RegionName: s.Region, CredentialID: s.CredentialID, StartedAt: s.StartedAt,
		Stale: s.StaleSince != nil, RemoteManagement: s.RemoteManagement}
	if c := region.Code(s.Region); c.Valid() {
		r.RegionName = c.Name()
	}
	for _, t := range tunnels {
		r.Tunnels = append(r.Tunnels, frontend.TunnelView{ID: t.ID, Proto: t.Proto, PublicURL: t.PublicURL, ForwardsTo: t.ForwardsTo})
	}
	return r
}

// Render renders the live fragment of a key.
func (f *Feed) Render(ctx context.Context, k ViewKey) ([]byte, error) {
	v, err := f.View(ctx, k)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := frontend.AgentsLive(v).Render(ctx, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
