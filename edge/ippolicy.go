package edge

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/edgeway/edgeway/internal/ipmatch"
	"github.com/edgeway/edgeway/internal/proto"
)

// ipPolicy is an account's endpoint IP restriction, compiled. A nil m means the account has
// none (held so that an older answer does not replace a newer push).
type ipPolicy struct {
	restrictionID string
	enforced      bool
	m             *ipmatch.Matcher
	epoch         uint64 // Server.ipEpoch when it was installed
}

// IP policy decisions, as logged (ip_policy.decision).
const (
	// IPAllowed: the account's endpoint restriction allows the client.
	IPAllowed = "allow"
	// IPDenied: the enforced restriction denies the client; it was refused.
	IPDenied = "deny"
	// IPWarned: the restriction denies the client but is not enforced; it passed.
	IPWarned = "warn"
)

func compileIPPolicy(set proto.IPPolicySet) *ipPolicy {
	if set.RestrictionID == "" {
		return &ipPolicy{}
	}
	rules := make([]ipmatch.Rule, 0, len(set.Rules))
	for _, r := range set.Rules {
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			continue // compiled as absent: the restriction then denies what it would have allowed
		}
		rules = append(rules, ipmatch.Rule{ID: r.ID, PolicyID: r.PolicyID, Prefix: p, Action: ipmatch.Action(r.Action)})
	}
	return &ipPolicy{restrictionID: set.RestrictionID, enforced: set.Enforced, m: ipmatch.Compile(rules)}
}

// SetIPPolicies installs accounts' endpoint IP restrictions (pushed by the bff). With full, the
// restrictions of accounts not listed are dropped. In force for the next connection or request.
func (s *Server) SetIPPolicies(full bool, sets ...proto.IPPolicySet) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	keep := uint64(0)
	if full {
		keep = ^uint64(0)
	}
	s.setIPPoliciesLocked(keep, false, sets)
}

// ipSnapshotEpoch starts a new epoch as the control channel takes its snapshot, and returns it.
func (s *Server) ipSnapshotEpoch() uint64 {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.ipEpoch++
	return s.ipEpoch
}

// replaceIPPolicies applies the bff's answer to the snapshot of epoch: the listed accounts'
// restrictions replace all installed before the snapshot (those installed since, with sign-ins
// the snapshot did not hold, are at least as new and stay).
func (s *Server) replaceIPPolicies(epoch uint64, sets []proto.IPPolicySet) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.setIPPoliciesLocked(epoch, false, sets)
}

// setIPPolicyIfAbsent installs an account's restriction unless the edge already holds one
// (pushes keep held ones current; an answer to an agent's sign-in may be older).
func (s *Server) setIPPolicyIfAbsent(set proto.IPPolicySet) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.setIPPoliciesLocked(0, true, []proto.IPPolicySet{set})
}

// setIPPoliciesLocked installs sets, dropping the unlisted restrictions installed before epoch
// dropBefore (0 drops none).
func (s *Server) setIPPoliciesLocked(dropBefore uint64, ifAbsent bool, sets []proto.IPPolicySet) {
	old := s.ipPolicies.Load()
	next := make(map[string]*ipPolicy, len(sets))
	if old != nil {
		for k, v := range *old {
			if dropBefore == 0 || v.epoch >= dropBefore {
				next[k] = v
			}
		}
	}
	for _, set := range sets {
		if ifAbsent {
			if old != nil {
				if _, ok := (*old)[set.AccountID]; ok {
					continue
				}
			}
		}
		p := compileIPPolicy(set)
		p.epoch = s.ipEpoch
		next[set.AccountID] = p
	}
	s.ipPolicies.Store(&next)
}

// ipCheck decides a client of an account's endpoint: the decision ("" when the account has no
// endpoint restriction) and whether to refuse.
func (s *Server) ipCheck(accountID string, ip netip.Addr, endpoint string) (string, bool) {
	m := s.ipPolicies.Load()
	if m == nil {
		return "", false
	}
	p := (*m)[accountID]
	if p == nil || p.m == nil {
		return "", false
	}
	d := p.m.Decide(ip)
	if d.Allowed {
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("endpoint ip restriction", slog.String("ip_policy.decision", IPAllowed), slog.String("account_id", accountID),
				slog.String("endpoint", endpoint), slog.String("client_ip", ip.String()), slog.String("ip_restriction_id", p.restrictionID))
		}
		return IPAllowed, false
	}
	decision := IPWarned
	if p.enforced {
		decision = IPDenied
	}
	s.log.Info("endpoint ip restriction denies client", slog.String("ip_policy.decision", decision), slog.String("account_id", accountID),
		slog.String("endpoint", endpoint), slog.String("client_ip", ip.String()), slog.String("ip_restriction_id", p.restrictionID),
		slog.String("ip_policy_id", d.Rule.PolicyID), slog.String("ip_policy_rule_id", d.Rule.ID), slog.Bool("enforced", p.enforced))
	return decision, p.enforced
}

// remoteIP is the client address of a socket ("ip:port"); the public listeners take no
// forwarded headers. An unparsable one is the zero Addr, which every restriction denies.
func remoteIP(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ipmatch.NormalizeAddr(ap.Addr())
}

func connIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ipmatch.NormalizeAddr(a.AddrPort().Addr())
	}
	return remoteIP(c.RemoteAddr().String())
}
