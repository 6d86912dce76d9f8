package ippolicy

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/edgeway/edgeway/internal/ipmatch"
)

// DefaultRecheck is how long a bff trusts its compiled restrictions of an account before reading
// the account's version again. A change made through another replica is therefore in force here
// within DefaultRecheck (plus one query); a change made through this replica at once.
const DefaultRecheck = 250 * time.Millisecond

// Compiled is one restriction ready to decide: its rules compiled, its policies at hand to name
// them in explanations.
type Compiled struct {
	Restriction Restriction
	Matcher     *ipmatch.Matcher
	Policies    map[string]Policy
	Rules       []ipmatch.Rule // what Matcher was compiled from (to push to the edges)
}

// Decide returns the decision for ip.
func (c *Compiled) Decide(ip netip.Addr) ipmatch.Decision { return c.Matcher.Decide(ip) }

// PolicyName is a policy's description, or its ID when it has none.
func (c *Compiled) PolicyName(id string) string {
	if p, ok := c.Policies[id]; ok && p.Description != "" {
		return p.Description
	}
	return id
}

// Verdict is what a restriction says about one address.
type Verdict struct {
	Compiled *Compiled // nil when the account has no restriction of the type
	IP       netip.Addr
	Decision ipmatch.Decision
}

// Applies reports whether the account has a restriction of the type.
func (v Verdict) Applies() bool { return v.Compiled != nil }

// Blocked reports whether the request must be refused: denied by an enforced restriction.
func (v Verdict) Blocked() bool {
	return v.Compiled != nil && !v.Decision.Allowed && v.Compiled.Restriction.Enforced
}

// Warned reports whether the request would be refused once the restriction is enforced.
func (v Verdict) Warned() bool {
	return v.Compiled != nil && !v.Decision.Allowed && !v.Compiled.Restriction.Enforced
}

type accountRules struct {
	version   int64
	checkedAt time.Time
	byType    map[string]*Compiled
}

// Cache holds the compiled restrictions of the accounts this process has seen. Every change to
// an account's policies, rules or restrictions bumps a version in PostgreSQL (triggers of
// migration 007); the cache compares it at most every recheck interval and recompiles when it
// moved. Changes made through this process invalidate at once.
type Cache struct {
	store   *Store
	recheck time.Duration
	now     func() time.Time

	mu       sync.RWMutex
	accounts map[string]*accountRules
}

// NewCache returns a Cache reading through store (on the pool, not a transaction).
func NewCache(store *Store, recheck time.Duration) *Cache {
	return &Cache{store: store, recheck: recheck, now: time.Now, accounts: map[string]*accountRules{}}
}

// Invalidate forgets an account's compiled restrictions.
func (c *Cache) Invalidate(accountID string) {
	c.mu.Lock()
	delete(c.accounts, accountID)
	c.mu.Unlock()
}

// Restriction returns the account's compiled restriction of a type, or nil when there is none.
func (c *Cache) Restriction(ctx context.Context, accountID, typ string) (*Compiled, error) {
	c.mu.RLock()
	e := c.accounts[accountID]
	c.mu.RUnlock()
	now := c.now()
	if e != nil && now.Sub(e.checkedAt) < c.recheck {
		return e.byType[typ], nil
	}
	v, err := c.store.Version(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if e != nil && e.version == v {
		c.put(accountID, &accountRules{version: v, checkedAt: now, byType: e.byType})
		return e.byType[typ], nil
	}
	snap, err := c.store.Snapshot(ctx, accountID)
	if err != nil {
		return nil, err
	}
	e = &accountRules{version: snap.Version, checkedAt: now, byType: compileSnapshot(snap)}
	c.put(accountID, e)
	return e.byType[typ], nil
}

// Reload reads an account's restrictions now (told of a change), whatever the cache holds.
func (c *Cache) Reload(ctx context.Context, accountID string) error {
	snap, err := c.store.Snapshot(ctx, accountID)
	if err != nil {
		return err
	}
	c.put(accountID, &accountRules{version: snap.Version, checkedAt: c.now(), byType: compileSnapshot(snap)})
	return nil
}

// put stores what was read of an account, unless a newer version is held already (a slow
// reader must not replace what a Reload just read).
func (c *Cache) put(accountID string, e *accountRules) {
	c.mu.Lock()
	if old := c.accounts[accountID]; old == nil || old.version <= e.version {
		c.accounts[accountID] = e
	}
	c.mu.Unlock()
}

// Check decides ip against the account's restriction of a type.
func (c *Cache) Check(ctx context.Context, accountID, typ string, ip netip.Addr) (Verdict, error) {
	comp, err := c.Restriction(ctx, accountID, typ)
	if err != nil || comp == nil {
		return Verdict{IP: ip}, err
	}
	ip = ipmatch.NormalizeAddr(ip)
	return Verdict{Compiled: comp, IP: ip, Decision: comp.Decide(ip)}, nil
}

func compileSnapshot(snap Snapshot) map[string]*Compiled {
	byPolicy := map[string][]Rule{}
	for _, r := range snap.Rules {
		byPolicy[r.PolicyID] = append(byPolicy[r.PolicyID], r)
	}
	out := make(map[string]*Compiled, len(snap.Restrictions))
	for _, r := range snap.Restrictions {
		var rules []Rule
		policies := map[string]Policy{}
		for _, id := range r.PolicyIDs {
			rules = append(rules, byPolicy[id]...)
			policies[id] = snap.Policies[id]
		}
		mr := matchRules(rules)
		out[r.Type] = &Compiled{Restriction: r, Matcher: ipmatch.Compile(mr), Policies: policies, Rules: mr}
	}
	return out
}

// matchRules converts stored rules (whose CIDRs were validated on the way in) for ipmatch.
func matchRules(rules []Rule) []ipmatch.Rule {
	out := make([]ipmatch.Rule, 0, len(rules))
	for _, r := range rules {
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			continue
		}
		out = append(out, ipmatch.Rule{ID: r.ID, PolicyID: r.PolicyID, Prefix: p, Action: ipmatch.Action(r.Action)})
	}
	return out
}
