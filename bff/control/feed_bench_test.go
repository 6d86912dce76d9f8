package control

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/edgeway/edgeway/frontend"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
)

// BenchmarkAgentsPage10k measures the server time of the Agents page's live part (queries and
// rendering) for an account with 10,000 sessions. Target (issue 4): under 100 ms.
func BenchmarkAgentsPage10k(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	acct := ids.New(ids.Account)
	if _, err := db.Exec(ctx, `insert into accounts (id, name) values ($1, 'Bench')`, acct); err != nil {
		b.Fatal(err)
	}
	st := NewStore(db)
	if err := st.UpsertEdge(ctx, Edge{ID: "edge_us_b", Region: "us"}, "bff_b"); err != nil {
		b.Fatal(err)
	}
	// Bulk insert: 10,000 sessions with one tunnel each, spread over the regions.
	if _, err := db.Exec(ctx, `insert into tunnel_sessions (id, account_id, credential_id, edge_id, region, agent_version, os, arch, hostname, ip, started_at)
		select 'ts_' || lpad(to_hex(g), 26, '0'), $1, 'cr_x', 'edge_us_b', (array['us','eu','ap','au','sa','jp','in'])[1 + g % 7],
			'1.0', 'linux', 'amd64', 'host-' || g, '10.0.' || (g / 256 % 256) || '.' || (g % 256), now() - (g || ' seconds')::interval
		from generate_series(1, 10000) g`, acct); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `insert into tunnels (id, session_id, account_id, region, proto, public_url, started_at)
		select 'tn_' || substr(id, 4), id, account_id, region, 'http', 'http://' || hostname || '.' || region || '.localhost', started_at
		from tunnel_sessions`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `analyze`); err != nil {
		b.Fatal(err)
	}
	k := ViewKey{AccountID: acct, CanManage: true}
	b.ResetTimer()
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		v, err := View(ctx, st, k)
		if err != nil {
			b.Fatal(err)
		}
		if err := frontend.AgentsLive(v).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
		if len(v.Rows) != PageSize || v.Total != 10000 {
			b.Fatalf("rows %d total %d", len(v.Rows), v.Total)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
