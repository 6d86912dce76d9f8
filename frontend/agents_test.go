package frontend

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func render(t *testing.T, v AgentsView) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := AgentsLive(v).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAgentsLiveFragment: the fragment the live stream pushes replaces #agents-live out of band,
// carries one row per session with its id and tunnels, and shows the manage buttons only to
// those who may use them.
func TestAgentsLiveFragment(t *testing.T) {
	v := AgentsView{
		Total:  2,
		Counts: []RegionCount{{Code: "us", Name: "United States (Ohio)", Count: 1}, {Code: "eu", Name: "Europe (Frankfurt)", Count: 1}},
		Chart:  []ChartSeries{{Region: "us", Points: []int{0, 1}}, {Region: "eu", Points: []int{1, 1}}},
		Rows: []SessionRow{
			{ID: "ts_a", Region: "us", StartedAt: time.Now(), Tunnels: []TunnelView{{PublicURL: "http://a.us.localhost:9000", ForwardsTo: "http://localhost:8080"}}},
			{ID: "ts_b", Region: "eu", StartedAt: time.Now(), Stale: true},
		},
	}
	for _, canManage := range []bool{false, true} {
		v.CanManage = canManage
		d := render(t, v)
		live := d.Find(`#agents-live`)
		if oob, _ := live.Attr("hx-swap-oob"); oob != "true" {
			t.Fatalf("fragment is not an out-of-band swap of #agents-live: %q", oob)
		}
		var ids []string
		d.Find(`[data-testid="session-row"]`).Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-session-id")
			ids = append(ids, id)
		})
		if strings.Join(ids, ",") != "ts_a,ts_b" {
			t.Fatalf("rows %v", ids)
		}
		if got := d.Find(`[data-session-id="ts_a"] [data-testid="tunnel-url"]`).Text(); got != "http://a.us.localhost:9000" {
			t.Fatalf("tunnel url %q", got)
		}
		if d.Find(`[data-session-id="ts_b"] [data-testid="session-stale"]`).Length() != 1 {
			t.Fatal("stale session not marked")
		}
		buttons := d.Find(`[data-testid="session-restart"], [data-testid="session-disconnect"]`).Length()
		if canManage && buttons != 4 || !canManage && buttons != 0 {
			t.Fatalf("canManage=%v: %d buttons", canManage, buttons)
		}
		if n, _ := d.Find(`[data-testid="region-count-eu"]`).Attr("data-count"); n != "1" {
			t.Fatalf("eu count %q", n)
		}
		if d.Find(`[data-testid="sessions-chart"] polyline`).Length() != 2 {
			t.Fatal("chart does not draw one line per region")
		}
		if label, _ := d.Find(`[data-testid="sessions-chart"] svg`).Attr("aria-label"); !strings.Contains(label, "us from 0 to 1") {
			t.Fatalf("chart has no text alternative: %q", label)
		}
	}
	if d := render(t, AgentsView{}); d.Find(`[data-testid="agents-empty"]`).Length() != 1 {
		t.Fatal("no empty state without sessions")
	}
}
