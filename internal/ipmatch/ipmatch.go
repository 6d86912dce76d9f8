// Package ipmatch decides whether an IP address may pass an IP restriction. A restriction is
// compiled from the rules of one or more IP policies (IPv4 and IPv6 CIDRs, each allow or deny)
// into a longest-prefix-match table (github.com/gaissmai/bart), so one decision costs tens of
// nanoseconds whatever the number of rules.
//
// Semantics, the same everywhere a restriction is enforced:
//   - the most specific rule (longest prefix) that contains the address decides;
//   - when the same prefix is both allowed and denied (in different policies), deny wins;
//   - an address that no rule contains is denied: once a restriction exists, it allows only
//     what its rules allow (so a restriction whose policies have no rules denies everything);
//   - IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are treated as the IPv4 address, and IPv6
//     zones (fe80::1%eth0) are ignored.
//
// The package also parses rules as users type them, with the reference platform's validation:
// a CIDR must name a network address (the corrected one is suggested), must carry a mask, and an
// action is allow or deny.
package ipmatch

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// Action is what a rule does with the addresses it contains.
type Action string

// The two actions.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// Rule is one rule of a policy, ready to compile.
type Rule struct {
	ID       string       // ipr_...
	PolicyID string       // ipp_...
	Prefix   netip.Prefix // normalised by ParseCIDR (masked, IPv4 when IPv4-mapped)
	Action   Action
}

// Decision is the outcome for one address.
type Decision struct {
	Allowed bool
	// Matched is false when no rule contains the address (and so it is denied).
	Matched bool
	// Rule is the deciding rule when Matched: the most specific one, the deny one on a tie.
	Rule Rule
}

// String explains the decision in a sentence fragment, for logs and error messages.
func (d Decision) String() string {
	if !d.Matched {
		return "no rule matches the address, so it is denied"
	}
	return fmt.Sprintf("rule %s (%s %s) of policy %s decides", d.Rule.ID, d.Rule.Action, d.Rule.Prefix, d.Rule.PolicyID)
}

// Matcher is a compiled restriction. It is immutable and safe for concurrent use.
type Matcher struct {
	table *bart.Table[*Rule]
	rules int
}

// Compile builds a Matcher from the rules of every policy of a restriction. Rules with an
// invalid prefix or action are skipped (ParseCIDR and ParseAction keep them out of storage).
func Compile(rules []Rule) *Matcher {
	m := &Matcher{table: new(bart.Table[*Rule])}
	for i := range rules {
		r := rules[i]
		if !r.Prefix.IsValid() || (r.Action != Allow && r.Action != Deny) {
			continue
		}
		r.Prefix = normalizePrefix(r.Prefix)
		m.rules++
		m.table.Modify(r.Prefix, func(old *Rule, exists bool) (*Rule, bool) {
			// Deny wins a tie: an existing deny stays; a deny replaces an allow.
			if exists && (old.Action == Deny || r.Action == Allow) {
				return old, false
			}
			return &r, false
		})
	}
	return m
}

// Len returns the number of rules compiled into m.
func (m *Matcher) Len() int { return m.rules }

// Decide returns the decision for ip. An invalid address is denied.
func (m *Matcher) Decide(ip netip.Addr) Decision {
	r, ok := m.table.Lookup(NormalizeAddr(ip))
	if !ok {
		return Decision{}
	}
	return Decision{Allowed: r.Action == Allow, Matched: true, Rule: *r}
}

// Allowed reports whether ip passes; it is Decide without the explanation.
func (m *Matcher) Allowed(ip netip.Addr) bool {
	r, ok := m.table.Lookup(NormalizeAddr(ip))
	return ok && r.Action == Allow
}

// NormalizeAddr turns an IPv4-mapped IPv6 address into IPv4 and drops any IPv6 zone.
func NormalizeAddr(ip netip.Addr) netip.Addr {
	if ip.Is4In6() {
		return ip.Unmap()
	}
	if ip.Zone() != "" {
		return ip.WithZone("")
	}
	return ip
}

// ParseAddr parses a client address as it comes from a socket or a trusted header: with or
// without brackets, a port or a zone. The result is normalised (see NormalizeAddr).
func ParseAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return NormalizeAddr(ap.Addr()), nil
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return NormalizeAddr(ip), nil
}

// normalizePrefix maps an IPv4-mapped IPv6 prefix (::ffff:192.0.2.0/120) to IPv4 (192.0.2.0/24)
// so that it matches the (normalised) IPv4 addresses it names.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// Problem says what is wrong with a rule, in the reference's numbering.
type Problem int

// Problems a rule can have.
const (
	ProblemInvalidCIDR   Problem = iota + 1 // not a CIDR at all
	ProblemNotNetwork                       // host bits set (reference 1409)
	ProblemMissingMask                      // no "/bits" (reference 1413)
	ProblemInvalidAction                    // neither allow nor deny (reference 1422)
)

// Error is a rule that does not parse: the problem, a message that says what to fix, and for
// ProblemNotNetwork and ProblemMissingMask the CIDR the user probably meant.
type Error struct {
	Problem    Problem
	Input      string
	Msg        string
	Suggestion string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// MaxCIDRLen bounds the input ParseCIDR looks at (the longest IPv6 CIDR is 43 bytes).
const MaxCIDRLen = 64

// ParseCIDR parses a rule's CIDR: "192.0.2.0/24", "2001:db8::/32", "0.0.0.0/0". The address must
// be the network address of the prefix and the mask is required (a single address is /32 or
// /128). IPv4-mapped IPv6 prefixes of /96 and longer become IPv4. The error is an *Error.
func ParseCIDR(s string) (netip.Prefix, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return netip.Prefix{}, &Error{Problem: ProblemInvalidCIDR, Input: s,
			Msg: "A CIDR is required, such as 192.0.2.0/24 or 2001:db8::/32."}
	}
	if len(in) > MaxCIDRLen {
		return netip.Prefix{}, &Error{Problem: ProblemInvalidCIDR, Input: s,
			Msg: fmt.Sprintf("%.20q... is too long to be a CIDR.", in)}
	}
	if !strings.Contains(in, "/") {
		ip, err := netip.ParseAddr(in)
		if err != nil || ip.Zone() != "" {
			return netip.Prefix{}, invalid(s, in)
		}
		ip = NormalizeAddr(ip)
		want := netip.PrefixFrom(ip, ip.BitLen())
		return netip.Prefix{}, &Error{Problem: ProblemMissingMask, Input: s, Suggestion: want.String(),
			Msg: fmt.Sprintf("%s is missing a mask; write %s for this one address, or add the network's mask.", in, want)}
	}
	p, err := netip.ParsePrefix(in)
	if err != nil {
		return netip.Prefix{}, invalid(s, in)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, &Error{Problem: ProblemNotNetwork, Input: s, Suggestion: normalizePrefix(m).String(),
			Msg: fmt.Sprintf("%s is not a network address; did you mean %s?", in, m)}
	}
	return normalizePrefix(p), nil
}

func invalid(s, in string) *Error {
	return &Error{Problem: ProblemInvalidCIDR, Input: s,
		Msg: fmt.Sprintf("%q is not a CIDR: write an address, a slash and a mask, such as 192.0.2.0/24 or 2001:db8::/32.", in)}
}

// ParseAction parses a rule's action, "allow" or "deny" (any case).
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case Allow, Deny:
		return a, nil
	}
	return "", &Error{Problem: ProblemInvalidAction, Input: s,
		Msg: fmt.Sprintf("The action must be allow or deny, not %q.", s)}
}

// HostPrefix is the /32 or /128 of one address: what "allow my current IP" adds.
func HostPrefix(ip netip.Addr) netip.Prefix {
	ip = NormalizeAddr(ip)
	return netip.PrefixFrom(ip, ip.BitLen())
}
