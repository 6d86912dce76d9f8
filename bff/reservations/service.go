// Package reservations manages reserved domains and reserved TCP addresses. Each reservation
// belongs to one account and one region, which never changes: an agent may bind a reserved name
// only on that region's edge (CheckBind), and an agent in auto mode goes to the region where its
// names are reserved (RegionFor). Domains are unique across accounts; TCP addresses are allocated
// by the server from the region's port range on the region's public host.
package reservations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/bff/apikeys"
	"github.com/edgeway/edgeway/bff/audit"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/plans"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/edgeway/edgeway/internal/pg"
	"github.com/edgeway/edgeway/internal/region"
	"github.com/jackc/pgx/v5"
)

// DefaultRegion is the region of a reservation created without one, as in the reference.
const DefaultRegion = region.US

// CNAMELabel names the DNS zone under each region's base domain that cname targets live in: the
// operator points a wildcard record *.cname.BASE_DOMAIN at the region's edge.
const CNAMELabel = "cname"

// Limits checks the account's plan limits (plans.Service) on db, the transaction that adds the
// reservation, so concurrent reservations cannot together exceed a limit.
type Limits interface {
	CheckTx(ctx context.Context, db pg.DB, accountID string, l plans.Limit) error
}

// Service implements the rules of reserved domains and addresses.
type Service struct {
	log     *slog.Logger
	store   *Store
	regions Regions
	limits  Limits
}

// NewService returns a Service; regions are the deployment's edges (nil: none). limits enforces
// the plans' reserved_domains and reserved_addrs limits (nil: no limits, for tests).
func NewService(log *slog.Logger, store *Store, regions Regions, limits Limits) *Service {
	if regions == nil {
		regions = Regions{}
	}
	return &Service{log: log, store: store, regions: regions, limits: limits}
}

// inLimit runs create in a transaction, after checking there that the account may add one more
// of l: the check locks the account row until the transaction ends, so two concurrent creates
// cannot both take the last one. create gets a Store on the transaction.
func (s *Service) inLimit(ctx context.Context, accountID string, l plans.Limit, create func(st *Store) error) error {
	return pg.InTx(ctx, s.store.db, func(tx pgx.Tx) error {
		if s.limits != nil {
			if err := s.limits.CheckTx(ctx, tx, accountID, l); err != nil {
				return err
			}
		}
		return create(NewStore(tx))
	})
}

// Audit event types of reservations, as in the reference.
const (
	EventDomainCreated = "domain_created.v0"
	EventDomainUpdated = "domain_updated.v0"
	EventDomainDeleted = "domain_deleted.v0"
	EventAddrCreated   = "tcp_address_created.v0"
	EventAddrUpdated   = "tcp_address_updated.v0"
	EventAddrDeleted   = "tcp_address_deleted.v0"
)

// inTx runs change on a Store in a transaction and writes its audit event in the same
// transaction; object (called after change succeeded) is the event's object.
func (s *Service) inTx(ctx context.Context, p web.Principal, typ, id string, change func(st *Store) error, object func() any) error {
	return pg.InTx(ctx, s.store.db, func(tx pgx.Tx) error {
		if err := change(NewStore(tx)); err != nil {
			return err
		}
		return audit.Write(ctx, tx, p, typ, id, object())
	})
}

func domainObject(d Domain) any {
	return map[string]any{"id": d.ID, "domain": d.Domain, "region": d.Region, "description": d.Description, "metadata": d.Metadata}
}

func addrObject(a Addr) any {
	return map[string]any{"id": a.ID, "addr": a.Addr, "region": a.Region, "description": a.Description, "metadata": a.Metadata}
}

// Regions returns the deployment's edges.
func (s *Service) Regions() Regions { return s.regions }

// DomainInput is what creating and updating a reserved domain accept; nil fields are left
// unchanged on update. Domain and Region are fixed once created.
type DomainInput struct {
	Domain      *string
	Region      *string
	Description *string
	Metadata    *string
}

// AddrInput is what creating and updating a reserved address accept; nil fields are left
// unchanged on update. Addr is allocated by the server; Region is fixed once created.
type AddrInput struct {
	Addr        *string
	Region      *string
	Description *string
	Metadata    *string
}

// parseRegion returns the region of s (DefaultRegion when nil or empty), or a message listing
// the valid codes.
func parseRegion(s *string) (region.Code, string) {
	if s == nil || strings.TrimSpace(*s) == "" {
		return DefaultRegion, ""
	}
	c, err := region.Parse(*s)
	if err != nil {
		return "", err.Error()
	}
	return c, ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func codeStrings(cs []region.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// fieldError is a client error of one field with its own code, shown next to that field in forms.
func fieldError(status int, code, field, msg string) *httperr.Error {
	return &httperr.Error{Status: status, Code: code, Msg: msg, Fields: map[string]string{field: msg}}
}

func validation(summary string, fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	e := httperr.Validation(summary, fields)
	if _, ok := fields["region"]; ok {
		e.Details = map[string]any{"valid_regions": codeStrings(region.Codes())}
	}
	return e
}

// CreateDomain reserves a domain in a region (default us) for the account.
func (s *Service) CreateDomain(ctx context.Context, p web.Principal, in DomainInput) (Domain, error) {
	fields := apikeys.ValidateFields(in.Description, in.Metadata)
	domain, msg := ValidateDomain(deref(in.Domain))
	if msg != "" {
		fields["domain"] = msg
	}
	code, msg := parseRegion(in.Region)
	if msg != "" {
		fields["region"] = msg
	}
	if msg == "" && fields["domain"] == "" {
		if msg := s.checkBaseDomain(domain, code); msg != "" {
			fields["domain"] = msg
		}
	}
	if err := validation("The domain could not be reserved.", fields); err != nil {
		return Domain{}, err
	}
	d := Domain{ID: ids.New(ids.ReservedDom), AccountID: p.AccountID, Domain: domain, Region: string(code),
		Description: strings.TrimSpace(deref(in.Description)), Metadata: deref(in.Metadata)}
	// A domain reserved already is refused as such before the plan's count is (the unique index
	// still decides a race).
	if ds, err := s.store.DomainsByName(ctx, []string{domain}); err != nil {
		return Domain{}, httperr.Internal(err)
	} else if len(ds) > 0 {
		return Domain{}, s.domainConflict(ctx, p.AccountID, domain, pg.ErrConflict)
	}
	var created Domain
	err := s.inLimit(ctx, p.AccountID, plans.ReservedDomains, func(st *Store) error {
		var err error
		if created, err = st.CreateDomain(ctx, d); err != nil {
			return err
		}
		return audit.Write(ctx, st.db, p, EventDomainCreated, created.ID, domainObject(created))
	})
	if _, ok := httperr.As(err); ok {
		return Domain{}, err // the plan limit
	}
	if errors.Is(err, pg.ErrConflict) {
		return Domain{}, s.domainConflict(ctx, p.AccountID, domain, err)
	}
	if err != nil {
		return Domain{}, httperr.Internal(fmt.Errorf("reserve domain %s: %w", domain, err))
	}
	s.log.InfoContext(ctx, "reserved domain created", "account_id", p.AccountID, "user_id", p.UserID,
		"reserved_domain_id", created.ID, "region", created.Region)
	return created, nil
}

// checkBaseDomain refuses domains under a region's base domain that that region's edge could not
// serve: the base domain itself, deeper subdomains, and subdomains reserved in another region.
func (s *Service) checkBaseDomain(domain string, want region.Code) string {
	have, sub, ok := s.regions.underBase(domain)
	if !ok {
		return ""
	}
	base := s.regions[have].BaseDomain
	switch {
	case sub == "":
		return fmt.Sprintf("%s is the base domain of region %s; reserve a subdomain of it, such as app.%s", domain, have, base)
	case strings.Contains(sub, "."):
		return fmt.Sprintf("region %s serves one level below %s: reserve NAME.%s, not %s", have, base, base, domain)
	case have != want:
		return fmt.Sprintf("%s is under region %s's base domain %s, so it can only be reserved in region %s", domain, have, base, have)
	}
	return ""
}

func (s *Service) domainConflict(ctx context.Context, accountID, domain string, cause error) error {
	ds, err := s.store.DomainsByName(ctx, []string{domain})
	if err != nil || len(ds) == 0 {
		return httperr.Internal(errors.Join(cause, err))
	}
	if d := ds[0]; d.AccountID == accountID {
		e := fieldError(http.StatusConflict, httperr.CodeDomainAlreadyReserved, "domain",
			fmt.Sprintf("%s is already reserved in this account (%s, region %s).", d.Domain, d.ID, d.Region))
		e.Details = map[string]any{"id": d.ID, "region": d.Region}
		return e
	}
	return fieldError(http.StatusConflict, httperr.CodeDomainTaken, "domain",
		fmt.Sprintf("%s is reserved by another account. Choose another domain.", domain))
}

// ListDomains returns a page of the account's reserved domains, newest first.
func (s *Service) ListDomains(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Domain, error) {
	ds, err := s.store.ListDomains(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return ds, nil
}

// GetDomain returns one reserved domain of the account.
func (s *Service) GetDomain(ctx context.Context, p web.Principal, id string) (Domain, error) {
	d, err := s.store.GetDomain(ctx, p.AccountID, id)
	return d, notFound(err, "Reserved domain", id)
}

// UpdateDomain changes description and metadata. Domain and region may be sent only unchanged:
// a different region is ERR_EDGEWAY_REGION_IMMUTABLE.
func (s *Service) UpdateDomain(ctx context.Context, p web.Principal, id string, in DomainInput) (Domain, error) {
	if err := validation("The reserved domain could not be updated.", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Domain{}, err
	}
	cur, err := s.GetDomain(ctx, p, id)
	if err != nil {
		return Domain{}, err
	}
	if err := regionUnchanged(in.Region, cur.Region, "domain "+cur.Domain); err != nil {
		return Domain{}, err
	}
	if in.Domain != nil {
		if d, _ := ValidateDomain(*in.Domain); d != cur.Domain {
			return Domain{}, httperr.Validation("The reserved domain could not be updated.", map[string]string{
				"domain": fmt.Sprintf("the domain of a reservation cannot be changed (it is %s); reserve the new domain and delete this reservation", cur.Domain)})
		}
	}
	if in.Description != nil {
		desc := strings.TrimSpace(*in.Description)
		in.Description = &desc
	}
	var d Domain
	err = s.inTx(ctx, p, EventDomainUpdated, id, func(st *Store) (err error) {
		d, err = st.UpdateDomain(ctx, p.AccountID, id, in.Description, in.Metadata)
		return err
	}, func() any { return domainObject(d) })
	return d, notFound(err, "Reserved domain", id)
}

// regionUnchanged refuses a region other than the reservation's own; an empty one means unchanged.
func regionUnchanged(in *string, have, what string) error {
	if in == nil || strings.TrimSpace(*in) == "" {
		return nil
	}
	if c, msg := parseRegion(in); msg == "" && string(c) == have {
		return nil
	}
	msg := fmt.Sprintf("The region of a reservation cannot be changed: %s is reserved in region %s. "+
		"To use another region, delete this reservation and reserve again there.", what, have)
	e := fieldError(http.StatusBadRequest, httperr.CodeRegionImmutable, "region", msg)
	e.Details = map[string]any{"region": have}
	return e
}

// DeleteDomain releases a reserved domain.
func (s *Service) DeleteDomain(ctx context.Context, p web.Principal, id string) error {
	cur, err := s.GetDomain(ctx, p, id)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, p, EventDomainDeleted, id, func(st *Store) error { return st.DeleteDomain(ctx, p.AccountID, id) },
		func() any { return domainObject(cur) })
	if err := notFound(err, "Reserved domain", id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "reserved domain deleted", "account_id", p.AccountID, "user_id", p.UserID, "reserved_domain_id", id)
	return nil
}

// CNAMETarget returns the host a reserved domain's CNAME record points at:
// DOMAIN.cname.BASE_DOMAIN of its region (ID.cname.BASE_DOMAIN when that would be longer than
// 253 characters). It is "" when no CNAME is needed (a subdomain of the region's base domain)
// or the region has no edge in this deployment.
func (s *Service) CNAMETarget(d Domain) string {
	e, ok := s.regions[region.Code(d.Region)]
	if !ok {
		return ""
	}
	if _, _, under := s.regions.underBase(d.Domain); under {
		return ""
	}
	suffix := "." + CNAMELabel + "." + e.BaseDomain
	if t := d.Domain + suffix; len(t) <= MaxDomain {
		return t
	}
	return strings.TrimPrefix(d.ID, ids.ReservedDom+"_") + suffix
}

// CreateAddr reserves a TCP address in a region (default us): a free port of the region's TCP
// range on its public host.
func (s *Service) CreateAddr(ctx context.Context, p web.Principal, in AddrInput) (Addr, error) {
	fields := apikeys.ValidateFields(in.Description, in.Metadata)
	if in.Addr != nil && strings.TrimSpace(*in.Addr) != "" {
		fields["addr"] = "addresses are allocated by the server: leave addr out and read it from the response"
	}
	code, msg := parseRegion(in.Region)
	if msg != "" {
		fields["region"] = msg
	}
	if err := validation("The TCP address could not be reserved.", fields); err != nil {
		return Addr{}, err
	}
	edge, ok := s.regions[code]
	if !ok || !edge.ServesTCP() {
		served := codeStrings(s.regions.WithTCP())
		msg := fmt.Sprintf("Region %s (%s) has no edge serving TCP addresses in this deployment, so no address can be reserved there.", code, code.Name())
		if len(served) > 0 {
			msg += " Choose one of: " + strings.Join(served, ", ") + "."
		} else {
			msg += " No region serves TCP addresses yet: an operator lists the edges in EDGEWAY_EDGES."
		}
		e := fieldError(http.StatusBadRequest, httperr.CodeRegionNotServed, "region", msg)
		e.Details = map[string]any{"region": string(code), "regions_with_tcp": served}
		return Addr{}, e
	}
	a := Addr{ID: ids.New(ids.ReservedAddr), AccountID: p.AccountID, Region: string(code),
		Description: strings.TrimSpace(deref(in.Description)), Metadata: deref(in.Metadata)}
	// Another reservation may take the port we picked between the read and the insert; the unique
	// index refuses it and we pick again.
	for attempt := 0; attempt < 8; attempt++ {
		var created Addr
		err := s.inLimit(ctx, p.AccountID, plans.ReservedAddrs, func(st *Store) error {
			port, err := s.freePort(ctx, st, edge)
			if err != nil {
				return err
			}
			a.Addr = net.JoinHostPort(edge.PublicHost, strconv.Itoa(port))
			if created, err = st.CreateAddr(ctx, a); err != nil {
				return err
			}
			return audit.Write(ctx, st.db, p, EventAddrCreated, created.ID, addrObject(created))
		})
		if _, ok := httperr.As(err); ok {
			return Addr{}, err // the plan limit, or no port free
		}
		if errors.Is(err, pg.ErrConflict) {
			continue
		}
		if err != nil {
			return Addr{}, httperr.Internal(fmt.Errorf("reserve addr %s: %w", a.Addr, err))
		}
		s.log.InfoContext(ctx, "reserved addr created", "account_id", p.AccountID, "user_id", p.UserID,
			"reserved_addr_id", created.ID, "region", created.Region, "addr", created.Addr)
		return created, nil
	}
	return Addr{}, httperr.Internal(fmt.Errorf("reserve addr in %s: every pick collided", code))
}

// freePort picks a random port of the edge's range that no reservation holds (read through st).
func (s *Service) freePort(ctx context.Context, st *Store, e Edge) (int, error) {
	taken, err := st.AddrsOnHost(ctx, e.PublicHost)
	if err != nil {
		return 0, httperr.Internal(err)
	}
	used := make(map[int]bool, len(taken))
	for _, a := range taken {
		if _, p, err := net.SplitHostPort(a); err == nil {
			n, _ := strconv.Atoi(p)
			used[n] = true
		}
	}
	free := make([]int, 0, e.LastPort-e.FirstPort+1-len(used))
	for port := e.FirstPort; port <= e.LastPort; port++ {
		if !used[port] {
			free = append(free, port)
		}
	}
	if len(free) == 0 {
		e := fieldError(http.StatusConflict, httperr.CodeNoAddrsFree, "region",
			fmt.Sprintf("Every TCP address of region %s (ports %s on %s) is reserved. Delete one you no longer need, or choose another region.",
				e.Region, e.Ports(), e.PublicHost))
		return 0, e
	}
	return free[rand.IntN(len(free))], nil
}

// ListAddrs returns a page of the account's reserved addresses, newest first.
func (s *Service) ListAddrs(ctx context.Context, p web.Principal, beforeID string, limit int) ([]Addr, error) {
	as, err := s.store.ListAddrs(ctx, p.AccountID, beforeID, limit)
	if err != nil {
		return nil, httperr.Internal(err)
	}
	return as, nil
}

// GetAddr returns one reserved address of the account.
func (s *Service) GetAddr(ctx context.Context, p web.Principal, id string) (Addr, error) {
	a, err := s.store.GetAddr(ctx, p.AccountID, id)
	return a, notFound(err, "Reserved address", id)
}

// UpdateAddr changes description and metadata. Addr and region may be sent only unchanged: a
// different region is ERR_EDGEWAY_REGION_IMMUTABLE.
func (s *Service) UpdateAddr(ctx context.Context, p web.Principal, id string, in AddrInput) (Addr, error) {
	if err := validation("The reserved address could not be updated.", apikeys.ValidateFields(in.Description, in.Metadata)); err != nil {
		return Addr{}, err
	}
	cur, err := s.GetAddr(ctx, p, id)
	if err != nil {
		return Addr{}, err
	}
	if err := regionUnchanged(in.Region, cur.Region, "address "+cur.Addr); err != nil {
		return Addr{}, err
	}
	if in.Addr != nil && !strings.EqualFold(strings.TrimSpace(*in.Addr), cur.Addr) {
		return Addr{}, httperr.Validation("The reserved address could not be updated.", map[string]string{
			"addr": fmt.Sprintf("the address of a reservation cannot be changed (it is %s); reserve another and delete this one", cur.Addr)})
	}
	if in.Description != nil {
		desc := strings.TrimSpace(*in.Description)
		in.Description = &desc
	}
	var a Addr
	err = s.inTx(ctx, p, EventAddrUpdated, id, func(st *Store) (err error) {
		a, err = st.UpdateAddr(ctx, p.AccountID, id, in.Description, in.Metadata)
		return err
	}, func() any { return addrObject(a) })
	return a, notFound(err, "Reserved address", id)
}

// DeleteAddr releases a reserved address.
func (s *Service) DeleteAddr(ctx context.Context, p web.Principal, id string) error {
	cur, err := s.GetAddr(ctx, p, id)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, p, EventAddrDeleted, id, func(st *Store) error { return st.DeleteAddr(ctx, p.AccountID, id) },
		func() any { return addrObject(cur) })
	if err := notFound(err, "Reserved address", id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "reserved addr deleted", "account_id", p.AccountID, "user_id", p.UserID, "reserved_addr_id", id)
	return nil
}

// Tunnel protocols CheckBind understands: domains for the HTTP family, host:port for TCP.
const (
	ProtoHTTP  = "http"
	ProtoHTTPS = "https"
	ProtoTLS   = "tls"
	ProtoTCP   = "tcp"
)

// CheckBind decides whether the account may bind name in region want. name is a domain for
// http, https and tls (a bare label is a subdomain of the region's base domain) and HOST:PORT
// for tcp (":PORT" or "PORT" is on the region's public host). An unreserved name is allowed.
// Refusals are *httperr.Error with a stable code and details {name, region, reserved_region}:
//   - ERR_EDGEWAY_322: a domain of this account reserved in another region;
//   - ERR_EDGEWAY_311: a TCP address of this account reserved in another region;
//   - ERR_EDGEWAY_RESERVED_BY_OTHER_ACCOUNT: the name is another account's reservation.
func (s *Service) CheckBind(ctx context.Context, accountID, want, proto, name string) error {
	code, err := region.Parse(want)
	if err != nil {
		e := httperr.New(http.StatusBadRequest, httperr.CodeValidation, err.Error())
		e.Details = map[string]any{"valid_regions": codeStrings(region.Codes())}
		return e
	}
	name = normalizeName(name)
	edge, hasEdge := s.regions[code]
	var (
		holder, have, kind string
		otherRegion        = httperr.CodeDomainOtherRegion
	)
	switch strings.ToLower(proto) {
	case ProtoHTTP, ProtoHTTPS, ProtoTLS:
		if !strings.Contains(name, ".") && hasEdge {
			name += "." + edge.BaseDomain
		}
		ds, err := s.store.DomainsByName(ctx, []string{name})
		if err != nil {
			return httperr.Internal(err)
		}
		if len(ds) == 0 {
			return nil
		}
		holder, have, kind = ds[0].AccountID, ds[0].Region, "domain"
	case ProtoTCP:
		host, port, ok := splitAddr(name)
		if !ok {
			return httperr.New(http.StatusBadRequest, httperr.CodeValidation,
				fmt.Sprintf("%q is not a TCP address: want HOST:PORT or :PORT", name))
		}
		if host == "" {
			if !hasEdge {
				return nil
			}
			host = edge.PublicHost
		}
		name = net.JoinHostPort(host, port)
		as, err := s.store.AddrsByName(ctx, []string{name})
		if err != nil {
			return httperr.Internal(err)
		}
		if len(as) == 0 {
			return nil
		}
		holder, have, kind, otherRegion = as[0].AccountID, as[0].Region, "TCP address", httperr.CodeAddrOtherRegion
	default:
		return httperr.New(http.StatusBadRequest, httperr.CodeValidation,
			fmt.Sprintf("unknown tunnel protocol %q: use http, https, tls or tcp", proto))
	}
	details := map[string]any{"name": name, "region": string(code), "reserved_region": have}
	if holder != accountID {
		e := httperr.New(http.StatusForbidden, httperr.CodeReservedByOtherAccount,
			fmt.Sprintf("%s %s is reserved by another account and cannot be used by this one. Choose another name.", kind, name))
		e.Details = map[string]any{"name": name}
		return e
	}
	if have != string(code) {
		e := httperr.New(http.StatusConflict, otherRegion,
			fmt.Sprintf("%s %s cannot be used in region %s: it is reserved in region %s. Start the agent with --region %s.",
				kind, name, code, have, have))
		e.Details = details
		return e
	}
	return nil
}

// normalizeName lower-cases a domain or address and drops surrounding space and a trailing dot.
func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// splitAddr splits HOST:PORT, :PORT or PORT; host is "" for the last two.
func splitAddr(s string) (host, port string, ok bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return "", s, n >= 1 && n <= 65535
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", false
	}
	n, err := strconv.Atoi(port)
	return host, port, err == nil && n >= 1 && n <= 65535
}

// RegionFor returns the region where the account's reservations among names lie: "" when none of
// them is reserved by the account, the region when all that are reserved share it (agents in auto
// mode connect there). Names are domains, bare labels (a subdomain of any region's base domain),
// HOST:PORT or :PORT addresses. Names reserved in different regions are
// ERR_EDGEWAY_REGION_CONFLICT, listing each name's region.
func (s *Service) RegionFor(ctx context.Context, accountID string, names []string) (string, error) {
	candidates := map[string][]string{} // domain or address -> the names it may stand for
	var domains, addrs []string
	for _, raw := range names {
		n := normalizeName(raw)
		if n == "" {
			continue
		}
		add := func(list *[]string, c string) {
			if _, seen := candidates[c]; !seen {
				*list = append(*list, c)
			}
			candidates[c] = append(candidates[c], n)
		}
		if host, port, ok := splitAddr(n); ok {
			if host != "" {
				add(&addrs, net.JoinHostPort(host, port))
				continue
			}
			for _, c := range s.regions.WithTCP() {
				add(&addrs, net.JoinHostPort(s.regions[c].PublicHost, port))
			}
			continue
		}
		if !strings.Contains(n, ".") {
			for _, c := range region.Codes() {
				if e, ok := s.regions[c]; ok {
					add(&domains, n+"."+e.BaseDomain)
				}
			}
			continue
		}
		add(&domains, n)
	}
	found := map[string][]region.Code{} // name -> regions it is reserved in by this account
	note := func(account, candidate, reg string) {
		if account != accountID {
			return
		}
		for _, n := range candidates[candidate] {
			if !slices.Contains(found[n], region.Code(reg)) {
				found[n] = append(found[n], region.Code(reg))
			}
		}
	}
	if len(domains) > 0 {
		ds, err := s.store.DomainsByName(ctx, domains)
		if err != nil {
			return "", httperr.Internal(err)
		}
		for _, d := range ds {
			note(d.AccountID, d.Domain, d.Region)
		}
	}
	if len(addrs) > 0 {
		as, err := s.store.AddrsByName(ctx, addrs)
		if err != nil {
			return "", httperr.Internal(err)
		}
		for _, a := range as {
			note(a.AccountID, strings.ToLower(a.Addr), a.Region)
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	// The answer is a region every reserved name can use; display order breaks ties.
	for _, c := range region.Codes() {
		everywhere := true
		for _, rs := range found {
			everywhere = everywhere && slices.Contains(rs, c)
		}
		if everywhere {
			return string(c), nil
		}
	}
	var parts []string
	details := map[string]any{}
	for _, raw := range names {
		n := normalizeName(raw)
		rs, ok := found[n]
		if !ok || details[n] != nil {
			continue
		}
		codes := codeStrings(rs)
		details[n] = codes
		parts = append(parts, n+" in "+strings.Join(codes, " or "))
	}
	e := httperr.New(http.StatusConflict, httperr.CodeRegionConflict,
		fmt.Sprintf("These names are reserved in different regions: %s. An agent connects to one region: "+
			"run one agent per region, with --region.", strings.Join(parts, ", ")))
	e.Details = map[string]any{"regions": details}
	return "", e
}

func notFound(err error, what, id string) error {
	if errors.Is(err, pg.ErrNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, fmt.Sprintf("%s %s was not found in this account.", what, id))
	}
	if err != nil {
		return httperr.Internal(err)
	}
	return nil
}
