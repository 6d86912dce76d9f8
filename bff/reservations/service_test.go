package reservations

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pgtest"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testEdges is a deployment with edges in us (three TCP ports) and eu (none), as EDGEWAY_EDGES
// gives it; ap, au, sa, jp and in have no edge.
const testEdges = `[
	{"region":"us","http_addr":"127.0.0.1:9000","https_addr":"127.0.0.1:9001","agent_addr":"127.0.0.1:9002","ops_addr":"127.0.0.1:9003","tcp_ports":"20000-20002","base_domain":"us.localhost"},
	{"region":"eu","http_addr":"127.0.0.1:9010","https_addr":"127.0.0.1:9011","agent_addr":"127.0.0.1:9012","ops_addr":"127.0.0.1:9013","tcp_ports":"","base_domain":"eu.localhost"},
	{"region":"jp","tcp_ports":"20600-20699","base_domain":"JP.Example.NET.","public_host":"tcp.jp.example.net"}
]`

func mustRegions(t *testing.T, s string) Regions {
	t.Helper()
	r, err := ParseRegions(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newService(t *testing.T) (*Service, *pgxpool.Pool) {
	t.Helper()
	db := pgtest.New(t)
	return NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), NewStore(db), mustRegions(t, testEdges), nil), db
}

// newAccount inserts an account and returns a principal acting in it.
func newAccount(t *testing.T, db *pgxpool.Pool) web.Principal {
	t.Helper()
	id := ids.New(ids.Account)
	if _, err := db.Exec(context.Background(), `insert into accounts (id, name) values ($1, 'Acme')`, id); err != nil {
		t.Fatal(err)
	}
	return web.Principal{AccountID: id, UserID: ids.New(ids.User), Source: web.SourceAPI}
}

func ptr(s string) *string { return &s }

// wantCode fails unless err is an *httperr.Error with this status and code whose message
// contains msg; it returns the error.
func wantCode(t *testing.T, err error, status int, code, msg string) *httperr.Error {
	t.Helper()
	e, ok := httperr.As(err)
	if !ok || e.Status != status || e.Code != code || !strings.Contains(e.Msg+" "+strings.Join(values(e.Fields), " "), msg) {
		t.Fatalf("error = %v; want %d %s containing %q", err, status, code, msg)
	}
	return e
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestParseRegions(t *testing.T) {
	r := mustRegions(t, testEdges)
	if len(r) != 3 {
		t.Fatalf("regions = %v", r)
	}
	us, _ := r.Edge(region.US)
	if us.BaseDomain != "us.localhost" || us.PublicHost != "us.localhost" || us.FirstPort != 20000 || us.LastPort != 20002 || us.AgentAddr != "127.0.0.1:9002" {
		t.Fatalf("us = %+v", us)
	}
	if eu := r[region.EU]; eu.ServesTCP() || eu.Ports() != "" {
		t.Fatalf("eu serves TCP: %+v", eu)
	}
	if jp := r[region.JP]; jp.BaseDomain != "jp.example.net" || jp.PublicHost != "tcp.jp.example.net" || jp.Ports() != "20600-20699" {
		t.Fatalf("jp = %+v", jp)
	}
	if got := r.WithTCP(); len(got) != 2 || got[0] != region.US || got[1] != region.JP {
		t.Fatalf("WithTCP = %v", got)
	}
	if r, err := ParseRegions("  "); err != nil || len(r) != 0 {
		t.Fatalf("empty = %v %v", r, err)
	}
	for name, tt := range map[string]struct{ in, want string }{
		"not JSON":      {`us=1`, "not a JSON list"},
		"unknown key":   {`[{"region":"us","color":"red"}]`, `unknown field "color"`},
		"bad region":    {`[{"region":"mars"}]`, `unknown region "mars"; valid regions: us, eu, ap, au, sa, jp, in`},
		"duplicate":     {`[{"region":"us"},{"region":"US"}]`, "region us is listed twice"},
		"bad ports":     {`[{"region":"us","tcp_ports":"20099-20000"}]`, `tcp_ports "20099-20000"`},
		"port zero":     {`[{"region":"us","tcp_ports":"0-10"}]`, "within 1-65535"},
		"bad base":      {`[{"region":"us","base_domain":"under_score.test"}]`, `base_domain "under_score.test"`},
		"bad host":      {`[{"region":"us","public_host":"a b"}]`, `public_host "a b"`},
		"every problem": {`[{"region":"us","tcp_ports":"x"},{"region":"eu","tcp_ports":"y"}]`, `edges[1]: tcp_ports "y"`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRegions(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseRegions(%s) = %v; want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestDomainLifecycle(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	ada, bob := newAccount(t, db), newAccount(t, db)

	d, err := svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr(" App.Example.COM. "), Description: ptr(" web ")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.ID, "rd_") || d.Domain != "app.example.com" || d.Region != "us" || d.Description != "web" || d.AccountID != ada.AccountID {
		t.Fatalf("created %+v", d)
	}
	if got := svc.CNAMETarget(d); got != "app.example.com.cname.us.localhost" {
		t.Fatalf("cname target = %q", got)
	}

	// The same domain again, in any case and region: 409, naming the existing reservation.
	e := wantCode(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("APP.example.com"), Region: ptr("eu")})),
		http.StatusConflict, httperr.CodeDomainAlreadyReserved, d.ID)
	if e.Fields["domain"] == "" || e.Details["id"] != d.ID {
		t.Fatalf("already reserved: %+v", e)
	}
	// Another account: taken, without saying whose.
	e = wantCode(t, mustFail(svc.CreateDomain(ctx, bob, DomainInput{Domain: ptr("app.example.com")})),
		http.StatusConflict, httperr.CodeDomainTaken, "reserved by another account")
	if strings.Contains(e.Msg, ada.AccountID) || strings.Contains(e.Msg, d.ID) {
		t.Fatalf("taken leaks the holder: %q", e.Msg)
	}

	// Bad input: every problem at once, the region's with the valid codes.
	e = wantCode(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{Domain: ptr("bad_domain"), Region: ptr("mars"), Description: ptr(strings.Repeat("x", 256))})),
		http.StatusBadRequest, httperr.CodeValidation, "")
	if !strings.Contains(e.Fields["region"], `unknown region "mars"; valid regions: us, eu, ap, au, sa, jp, in`) ||
		!strings.Contains(e.Fields["domain"], "not allowed") || !strings.Contains(e.Fields["description"], "at most 255") {
		t.Fatalf("fields = %v", e.Fields)
	}
	wantCode(t, mustFail(svc.CreateDomain(ctx, ada, DomainInput{})), http.StatusBadRequest, httperr.CodeValidation, "enter a domain")

	// Update: description and metadata; domain and region only unchanged.
	up, err := svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Description: ptr("site"), Metadata: ptr(`{"team":"web"}`), Region: ptr("US"), Domain: ptr("app.example.com")})
	if err != nil || up.Description != "site" || up.Metadata != `{"team":"web"}` || up.Region != "us" {
		t.Fatalf("update = %+v %v", up, err)
	}
	e = wantCode(t, mustFail(svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Region: ptr("eu")})),
		http.StatusBadRequest, httperr.CodeRegionImmutable, "cannot be changed: domain app.example.com is reserved in region us")
	if e.Fields["region"] == "" {
		t.Fatalf("immutable region has no field: %+v", e)
	}
	wantCode(t, mustFail(svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Region: ptr("mars")})), http.StatusBadRequest, httperr.CodeRegionImmutable, "region us")
	if _, err := svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Region: ptr("")}); err != nil {
		t.Fatalf("an empty region means unchanged: %v", err)
	}
	wantCode(t, mustFail(svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Domain: ptr("other.example.com")})), http.StatusBadRequest, httperr.CodeValidation, "cannot be changed")
	wantCode(t, mustFail(svc.UpdateDomain(ctx, ada, d.ID, DomainInput{Metadata: ptr(strings.Repeat("m", 4097))})), http.StatusBadRequest, httperr.CodeValidation, "at most 4096")

	// Another account cannot see, change or delete it.
	wantCode(t, mustFail(svc.GetDomain(ctx, bob, d.ID)), http.StatusNotFound, httperr.CodeNotFound, d.ID)
	wantCode(t, mustFail(svc.UpdateDomain(ctx, bob, d.ID, DomainInput{Description: ptr("x")})), http.StatusNotFound, httperr.CodeNotFound, d.ID)
	wantCode(t, svc.DeleteDomain(ctx, bob, d.ID), http.StatusNotFound, httperr.CodeNotFound, d.ID)
	if ds, err := svc.ListDomains(ctx, bob, "", 10); err != nil || len(ds) != 0 {
		t.Fatalf("bob lists %v %v", ds, err)
	}

	// Deleted, it is free for anyone.
	if err := svc.DeleteDomain(ctx, ada, d.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, svc.DeleteDomain(ctx, ada, d.ID), http.StatusNotFound, httperr.CodeNotFound, "Reserved domain "+d.ID+" was not found")
	if d2, err := svc.CreateDomain(ctx, bob, DomainInput{Domain: ptr("app.example.com"), Region: ptr("jp")}); err != nil || d2.Region != "jp" {
		t.Fatalf("bob reserves the released domain: %+v %v", d2, err)
	} else if got := svc.CNAMETarget(d2); got != "app.example.com.cname.jp.example.net" {
		t.Fatalf("jp cname target = %q", got)
	}
}

// mustFail returns the error of a call that returned a value too.
func mustFail[T any](_ T, err error) error { return err }

func TestDomainsUnderBaseDomains(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	ada := newAccount(t, db)
	tests := []struct {
		domain, region string
		cname          string // want; "-" for none
		problem        string
	}{
		{domain: "myapp.eu.localhost", region: "eu", cname: "-"},
		{domain: "other.eu.localhost", region: "us", problem: "under region eu's base domain eu.localhost, so it can only be reserved in region eu"},
		{domain: "eu.localhost", region: "eu", problem: "is the base domain of region eu"},
		{domain: "a.b.us.localhost", region: "us", problem: "region us serves one level below us.localhost"},
		{domain: "app.ap.localhost", region: "ap", cname: "-"}, // ap has no edge: no base domain known, no target
		{domain: "shop.example.org", region: "eu", cname: "shop.example.org.cname.eu.localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			d, err := svc.CreateDomain(ctx, ada, DomainInput{Domain: &tt.domain, Region: &tt.region})
			if tt.problem != "" {
				e := wantCode(t, err, http.StatusBadRequest, httperr.CodeValidation, tt.problem)
				if e.Fields["domain"] == "" {
					t.Fatalf("problem not on the domain field: %v", e.Fields)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.cname
			if want == "-" {
				want = ""
			}
			if got := svc.CNAMETarget(d); got != want {
				t.Fatalf("cname target = %q, want %q", got, want)
			}
		})
	}
	t.Run("long domain gets an ID target", func(t *testing.T) {
		long := strings.Repeat(strings.Repeat("a", 60)+".", 4) + "com" // 247 characters
		d, err := svc.CreateDomain(ctx, ada, DomainInput{Domain: &long})
		if err != nil {
			t.Fatal(err)
		}
		got := svc.CNAMETarget(d)
		if got != strings.TrimPrefix(d.ID, "rd_")+".cname.us.localhost" {
			t.Fatalf("cname target = %q", got)
		}
		if _, p := ValidateDomain(got); p != "" {
			t.Fatalf("target %q is not a valid domain: %s", got, p)
		}
	})
}

func TestAddrAllocation(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	ada, bob := newAccount(t, db), newAccount(t, db)

	// us has three ports; both accounts share them, each port once.
	seen := map[string]bool{}
	for i, p := range []web.Principal{ada, bob, ada} {
		a, err := svc.CreateAddr(ctx, p, AddrInput{Description: ptr("db " + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(a.Addr)
		n, _ := strconv.Atoi(port)
		if !strings.HasPrefix(a.ID, "ra_") || a.Region != "us" || host != "us.localhost" || n < 20000 || n > 20002 || seen[a.Addr] {
			t.Fatalf("allocated %+v (seen %v)", a, seen)
		}
		seen[a.Addr] = true
	}
	e := wantCode(t, mustFail(svc.CreateAddr(ctx, bob, AddrInput{Region: ptr("us")})), http.StatusConflict, httperr.CodeNoAddrsFree,
		"Every TCP address of region us (ports 20000-20002 on us.localhost) is reserved")
	if e.Fields["region"] == "" {
		t.Fatalf("no region field: %+v", e)
	}

	// Released, the port is allocated again.
	as, err := svc.ListAddrs(ctx, ada, "", 10)
	if err != nil || len(as) != 2 || as[0].ID < as[1].ID {
		t.Fatalf("ada's addrs = %v %v", as, err)
	}
	if err := svc.DeleteAddr(ctx, ada, as[0].ID); err != nil {
		t.Fatal(err)
	}
	again, err := svc.CreateAddr(ctx, bob, AddrInput{})
	if err != nil || again.Addr != as[0].Addr {
		t.Fatalf("reallocated %+v %v; want %s", again, err, as[0].Addr)
	}

	// Regions without TCP: a clear refusal naming the regions that have it.
	for _, r := range []string{"eu", "ap"} {
		e := wantCode(t, mustFail(svc.CreateAddr(ctx, ada, AddrInput{Region: ptr(r)})), http.StatusBadRequest, httperr.CodeRegionNotServed,
			"has no edge serving TCP addresses in this deployment, so no address can be reserved there. Choose one of: us, jp.")
		if e.Fields["region"] == "" || e.Details["region"] != r {
			t.Fatalf("not served: %+v", e)
		}
	}
	// jp's addresses are on its public host.
	if a, err := svc.CreateAddr(ctx, ada, AddrInput{Region: ptr("JP")}); err != nil || !strings.HasPrefix(a.Addr, "tcp.jp.example.net:206") || a.Region != "jp" {
		t.Fatalf("jp addr = %+v %v", a, err)
	}
	wantCode(t, mustFail(svc.CreateAddr(ctx, ada, AddrInput{Addr: ptr("us.localhost:20001")})), http.StatusBadRequest, httperr.CodeValidation, "allocated by the server")
	wantCode(t, mustFail(svc.CreateAddr(ctx, ada, AddrInput{Region: ptr("moon")})), http.StatusBadRequest, httperr.CodeValidation, "valid regions")

	// Update: description only; addr and region unchanged.
	a := again
	if up, err := svc.UpdateAddr(ctx, bob, a.ID, AddrInput{Description: ptr("primary"), Region: ptr("us"), Addr: ptr(strings.ToUpper(a.Addr))}); err != nil || up.Description != "primary" || up.Addr != a.Addr {
		t.Fatalf("update = %+v %v", up, err)
	}
	wantCode(t, mustFail(svc.UpdateAddr(ctx, bob, a.ID, AddrInput{Region: ptr("jp")})), http.StatusBadRequest, httperr.CodeRegionImmutable, "address "+a.Addr+" is reserved in region us")
	wantCode(t, mustFail(svc.UpdateAddr(ctx, bob, a.ID, AddrInput{Addr: ptr("us.localhost:1")})), http.StatusBadRequest, httperr.CodeValidation, "cannot be changed")
	wantCode(t, mustFail(svc.GetAddr(ctx, ada, a.ID)), http.StatusNotFound, httperr.CodeNotFound, "Reserved address "+a.ID)
}

func TestAddrAllocationConcurrent(t *testing.T) {
	db := pgtest.New(t)
	svc := NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), NewStore(db),
		mustRegions(t, `[{"region":"us","tcp_ports":"20000-20007"}]`), nil)
	ada := newAccount(t, db)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = map[string]bool{}
		errs []error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := svc.CreateAddr(context.Background(), ada, AddrInput{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got[a.Addr] = true
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(got) != 8 {
		t.Fatalf("8 concurrent reservations of 8 ports: %d distinct, errors %v", len(got), errs)
	}
	wantCode(t, mustFail(svc.CreateAddr(context.Background(), ada, AddrInput{})), http.StatusConflict, httperr.CodeNoAddrsFree, "20000-20007")
}

func TestAddrAllocationOnIPv6Host(t *testing.T) {
	db := pgtest.New(t)
	svc := NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), NewStore(db),
		mustRegions(t, `[{"region":"au","tcp_ports":"30000-30001","public_host":"::1"}]`), nil)
	ada := newAccount(t, db)
	got := map[string]bool{}
	for range 2 {
		a, err := svc.CreateAddr(context.Background(), ada, AddrInput{Region: ptr("au")})
		if err != nil {
			t.Fatal(err)
		}
		got[a.Addr] = true
	}
	if !got["[::1]:30000"] || !got["[::1]:30001"] {
		t.Fatalf("allocated %v", got)
	}
	wantCode(t, mustFail(svc.CreateAddr(context.Background(), ada, AddrInput{Region: ptr("au")})), http.StatusConflict, httperr.CodeNoAddrsFree, "30000-30001 on ::1")
}

func TestCheckBind(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	ada, bob := newAccount(t, db), newAccount(t, db)
	mustDomain := func(p web.Principal, domain, r string) {
		t.Helper()
		if _, err := svc.CreateDomain(ctx, p, DomainInput{Domain: &domain, Region: &r}); err != nil {
			t.Fatal(err)
		}
	}
	mustDomain(ada, "app.example.com", "eu")
	mustDomain(ada, "us-app.example.com", "us")
	mustDomain(ada, "myapp.us.localhost", "us")
	mustDomain(bob, "bob.example.com", "us")
	usAddr, err := svc.CreateAddr(ctx, ada, AddrInput{Region: ptr("us")})
	if err != nil {
		t.Fatal(err)
	}
	jpAddr, err := svc.CreateAddr(ctx, ada, AddrInput{Region: ptr("jp")})
	if err != nil {
		t.Fatal(err)
	}
	_, usPort, _ := net.SplitHostPort(usAddr.Addr)

	tests := []struct {
		name                       string
		account, region, proto, nm string
		status                     int
		code, msg                  string
	}{
		{"own domain in its region", ada.AccountID, "eu", "http", "app.example.com", 0, "", ""},
		{"own domain, case and dot", ada.AccountID, "EU", "https", "APP.example.com.", 0, "", ""},
		{"own domain in another region", ada.AccountID, "us", "http", "app.example.com", http.StatusConflict, httperr.CodeDomainOtherRegion,
			"domain app.example.com cannot be used in region us: it is reserved in region eu. Start the agent with --region eu."},
		{"tls too", ada.AccountID, "jp", "tls", "us-app.example.com", http.StatusConflict, httperr.CodeDomainOtherRegion,
			"domain us-app.example.com cannot be used in region jp: it is reserved in region us. Start the agent with --region us."},
		{"bare label expands in its region", ada.AccountID, "us", "http", "myapp", 0, "", ""},
		{"bare label in another region is another name", ada.AccountID, "eu", "http", "myapp", 0, "", ""},
		{"another account's domain", ada.AccountID, "us", "http", "bob.example.com", http.StatusForbidden, httperr.CodeReservedByOtherAccount,
			"domain bob.example.com is reserved by another account"},
		{"another account's domain, in any region", ada.AccountID, "eu", "http", "bob.example.com", http.StatusForbidden, httperr.CodeReservedByOtherAccount, "another account"},
		{"unreserved custom domain", ada.AccountID, "us", "http", "free.example.com", 0, "", ""},
		{"unreserved for an account without reservations", bob.AccountID, "eu", "http", "free.example.com", 0, "", ""},
		{"own addr in its region", ada.AccountID, "us", "tcp", usAddr.Addr, 0, "", ""},
		{"own addr as :port", ada.AccountID, "us", "tcp", ":" + usPort, 0, "", ""},
		{"own addr as port", ada.AccountID, "us", "tcp", usPort, 0, "", ""},
		{"own addr in another region", ada.AccountID, "eu", "tcp", jpAddr.Addr, http.StatusConflict, httperr.CodeAddrOtherRegion,
			"TCP address " + jpAddr.Addr + " cannot be used in region eu: it is reserved in region jp. Start the agent with --region jp."},
		{"another account's addr", bob.AccountID, "us", "tcp", strings.ToUpper(usAddr.Addr), http.StatusForbidden, httperr.CodeReservedByOtherAccount,
			"TCP address " + usAddr.Addr + " is reserved by another account"},
		{"unreserved addr", ada.AccountID, "us", "tcp", "us.localhost:20999", 0, "", ""},
		{"bad addr", ada.AccountID, "us", "tcp", "us.localhost:http", http.StatusBadRequest, httperr.CodeValidation, "not a TCP address"},
		{"unknown region", ada.AccountID, "mars", "http", "app.example.com", http.StatusBadRequest, httperr.CodeValidation,
			`unknown region "mars"; valid regions: us, eu, ap, au, sa, jp, in`},
		{"auto is not a region", ada.AccountID, "auto", "http", "app.example.com", http.StatusBadRequest, httperr.CodeValidation, "unknown region"},
		{"unknown protocol", ada.AccountID, "us", "udp", "x", http.StatusBadRequest, httperr.CodeValidation, `unknown tunnel protocol "udp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := svc.CheckBind(ctx, tt.account, tt.region, tt.proto, tt.nm)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("CheckBind = %v; want allowed", err)
				}
				return
			}
			e := wantCode(t, err, tt.status, tt.code, tt.msg)
			if tt.code == httperr.CodeDomainOtherRegion || tt.code == httperr.CodeAddrOtherRegion {
				if e.Details["region"] != strings.ToLower(tt.region) || e.Details["reserved_region"] == "" || e.Details["name"] == "" {
					t.Fatalf("details = %v", e.Details)
				}
			}
		})
	}
}

func TestRegionFor(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	ada, bob := newAccount(t, db), newAccount(t, db)
	for _, d := range []struct {
		p              web.Principal
		domain, region string
	}{
		{ada, "eu-1.example.com", "eu"}, {ada, "eu-2.example.com", "eu"}, {ada, "jp.example.com", "jp"},
		{ada, "web.us.localhost", "us"}, {ada, "web.eu.localhost", "eu"}, {bob, "bob.example.com", "jp"},
	} {
		if _, err := svc.CreateDomain(ctx, d.p, DomainInput{Domain: ptr(d.domain), Region: ptr(d.region)}); err != nil {
			t.Fatal(err)
		}
	}
	usAddr, err := svc.CreateAddr(ctx, ada, AddrInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, usPort, _ := net.SplitHostPort(usAddr.Addr)

	tests := []struct {
		name    string
		account string
		names   []string
		want    string
		problem string
	}{
		{"nothing", ada.AccountID, nil, "", ""},
		{"unreserved names", ada.AccountID, []string{"free.example.com", "us.localhost:20999", ""}, "", ""},
		{"one region", ada.AccountID, []string{"eu-1.example.com", "EU-2.example.com.", "free.example.com"}, "eu", ""},
		{"jp", ada.AccountID, []string{"jp.example.com"}, "jp", ""},
		{"addr", ada.AccountID, []string{usAddr.Addr}, "us", ""},
		{"addr as :port", ada.AccountID, []string{":" + usPort}, "us", ""},
		{"bare label reserved in two regions: the first", ada.AccountID, []string{"web"}, "us", ""},
		{"bare label narrowed by another name", ada.AccountID, []string{"web", "eu-1.example.com"}, "eu", ""},
		{"another account's names do not count", ada.AccountID, []string{"bob.example.com", "eu-1.example.com"}, "eu", ""},
		{"only another account's", ada.AccountID, []string{"bob.example.com"}, "", ""},
		{"different regions", ada.AccountID, []string{"eu-1.example.com", "jp.example.com", usAddr.Addr},
			"", "These names are reserved in different regions: eu-1.example.com in eu, jp.example.com in jp, " + usAddr.Addr + " in us. An agent connects to one region"},
		{"bare label against another region", ada.AccountID, []string{"web", "jp.example.com"}, "", "web in us or eu, jp.example.com in jp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := svc.RegionFor(ctx, tt.account, tt.names)
			if tt.problem != "" {
				e := wantCode(t, err, http.StatusConflict, httperr.CodeRegionConflict, tt.problem)
				if _, ok := e.Details["regions"].(map[string]any); !ok {
					t.Fatalf("details = %v", e.Details)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("RegionFor(%v) = %q, %v; want %q", tt.names, got, err, tt.want)
			}
		})
	}
}

// TestReservationChangesAreAudited: creating, updating and deleting reservations write the
// reference's domain_* and tcp_address_* events with the acting principal.
func TestReservationChangesAreAudited(t *testing.T) {
	svc, db := newService(t)
	ctx := context.Background()
	p := newAccount(t, db)
	d, err := svc.CreateDomain(ctx, p, DomainInput{Domain: ptr("audit.example.com"), Region: ptr("eu")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateDomain(ctx, p, d.ID, DomainInput{Description: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteDomain(ctx, p, d.ID); err != nil {
		t.Fatal(err)
	}
	a, err := svc.CreateAddr(ctx, p, AddrInput{Region: ptr("us")})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteAddr(ctx, p, a.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `select event_type || ' ' || object_id || ' ' || principal_id from audit_events where account_id = $1 order by id`, p.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := []string{EventDomainCreated + " " + d.ID + " " + p.UserID, EventDomainUpdated + " " + d.ID + " " + p.UserID,
		EventDomainDeleted + " " + d.ID + " " + p.UserID, EventAddrCreated + " " + a.ID + " " + p.UserID, EventAddrDeleted + " " + a.ID + " " + p.UserID}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
