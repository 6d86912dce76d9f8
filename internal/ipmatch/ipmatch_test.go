package ipmatch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func rules(specs ...string) []Rule {
	var out []Rule
	for i, s := range specs {
		action, cidr, _ := strings.Cut(s, " ")
		policy := "ipp_a"
		if p, c, ok := strings.Cut(cidr, " @"); ok {
			cidr, policy = p, c
		}
		out = append(out, Rule{ID: fmt.Sprintf("ipr_%d", i), PolicyID: policy, Prefix: netip.MustParsePrefix(cidr), Action: Action(action)})
	}
	return out
}

func TestDecideIPv4(t *testing.T) {
	m := Compile(rules(
		"allow 10.0.0.0/8",
		"deny 10.1.0.0/16",
		"allow 10.1.2.0/24",
		"deny 10.1.2.3/32",
		"allow 192.0.2.0/24 @ipp_a",
		"deny 192.0.2.0/24 @ipp_b", // same prefix allowed and denied: deny wins
		"deny 198.51.100.0/24 @ipp_b",
		"allow 198.51.100.0/24 @ipp_a", // order does not matter
		"allow 203.0.113.7/32",
	))
	tests := []struct {
		ip      string
		allowed bool
		rule    string // deciding rule ID; "" when nothing matches
	}{
		{"10.9.9.9", true, "ipr_0"},
		{"10.1.9.9", false, "ipr_1"},
		{"10.1.2.9", true, "ipr_2"},
		{"10.1.2.3", false, "ipr_3"},
		{"192.0.2.50", false, "ipr_5"},
		{"198.51.100.1", false, "ipr_6"},
		{"203.0.113.7", true, "ipr_8"},
		{"203.0.113.8", false, ""},
		{"11.0.0.1", false, ""},
		{"::ffff:10.1.2.9", true, "ipr_2"}, // IPv4-mapped IPv6 is IPv4
		{"::ffff:10.1.2.3", false, "ipr_3"},
		{"::ffff:203.0.113.7", true, "ipr_8"},
		{"::a01:203", false, ""}, // IPv4-compatible (not mapped) stays IPv6
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			d := m.Decide(netip.MustParseAddr(tt.ip))
			if d.Allowed != tt.allowed || d.Rule.ID != tt.rule || d.Matched != (tt.rule != "") {
				t.Fatalf("Decide(%s) = %+v, want allowed=%v by %q", tt.ip, d, tt.allowed, tt.rule)
			}
			if m.Allowed(netip.MustParseAddr(tt.ip)) != tt.allowed {
				t.Fatalf("Allowed(%s) disagrees with Decide", tt.ip)
			}
		})
	}
}

func TestDecideIPv6(t *testing.T) {
	m := Compile(rules(
		"allow 2001:db8::/32",
		"deny 2001:db8:1::/48",
		"allow 2001:db8:1:2::/64",
		"deny 2001:db8:1:2::1/128",
		"allow fe80::/10",
		"deny 2001:db8:ff::/48 @ipp_a",
		"allow 2001:db8:ff::/48 @ipp_b",
		"allow ::ffff:192.0.2.0/120", // an IPv4-mapped rule is an IPv4 rule
	))
	tests := []struct {
		ip      string
		allowed bool
		rule    string
	}{
		{"2001:db8:9::1", true, "ipr_0"},
		{"2001:db8:1:9::1", false, "ipr_1"},
		{"2001:db8:1:2::2", true, "ipr_2"},
		{"2001:db8:1:2::1", false, "ipr_3"},
		{"fe80::1%eth0", true, "ipr_4"}, // zones are ignored
		{"2001:db8:ff::1", false, "ipr_5"},
		{"2001:db9::1", false, ""},
		{"::1", false, ""},
		{"192.0.2.9", true, "ipr_7"},
		{"::ffff:192.0.2.9", true, "ipr_7"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			d := m.Decide(netip.MustParseAddr(tt.ip))
			if d.Allowed != tt.allowed || d.Rule.ID != tt.rule {
				t.Fatalf("Decide(%s) = %+v, want allowed=%v by %q", tt.ip, d, tt.allowed, tt.rule)
			}
		})
	}
}

func TestEmptyAndZeroPrefix(t *testing.T) {
	empty := Compile(nil)
	for _, ip := range []string{"192.0.2.1", "2001:db8::1", "::1"} {
		if empty.Allowed(netip.MustParseAddr(ip)) {
			t.Errorf("a restriction with no rules allowed %s", ip)
		}
	}
	if Compile(nil).Decide(netip.Addr{}).Allowed {
		t.Error("the invalid address was allowed")
	}
	all4 := Compile(rules("allow 0.0.0.0/0", "deny 192.0.2.0/24"))
	if !all4.Allowed(netip.MustParseAddr("8.8.8.8")) || all4.Allowed(netip.MustParseAddr("192.0.2.1")) || all4.Allowed(netip.MustParseAddr("2001:db8::1")) {
		t.Error("0.0.0.0/0 must allow every IPv4 address but no IPv6 one, and a longer deny wins")
	}
	all6 := Compile(rules("allow ::/0"))
	if !all6.Allowed(netip.MustParseAddr("2001:db8::1")) || all6.Allowed(netip.MustParseAddr("192.0.2.1")) {
		t.Error("::/0 must allow every IPv6 address and no IPv4 one")
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		problem Problem
		msg     string
	}{
		{"192.168.1.0/24", "192.168.1.0/24", 0, ""},
		{" 10.0.0.0/8 ", "10.0.0.0/8", 0, ""},
		{"0.0.0.0/0", "0.0.0.0/0", 0, ""},
		{"::/0", "::/0", 0, ""},
		{"2001:DB8::/32", "2001:db8::/32", 0, ""},
		{"203.0.113.7/32", "203.0.113.7/32", 0, ""},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24", 0, ""},
		{"::ffff:192.0.2.1/128", "192.0.2.1/32", 0, ""},
		{"192.168.1.5/24", "", ProblemNotNetwork, "192.168.1.5/24 is not a network address; did you mean 192.168.1.0/24?"},
		{"2001:db8::1/32", "", ProblemNotNetwork, "did you mean 2001:db8::/32?"},
		{"192.168.1.5", "", ProblemMissingMask, "write 192.168.1.5/32"},
		{"2001:db8::1", "", ProblemMissingMask, "write 2001:db8::1/128"},
		{"::ffff:192.0.2.1", "", ProblemMissingMask, "write 192.0.2.1/32"},
		{"", "", ProblemInvalidCIDR, "required"},
		{"fe80::1%eth0/64", "", ProblemInvalidCIDR, "not a CIDR"},
		{"fe80::1%eth0", "", ProblemInvalidCIDR, "not a CIDR"},
		{"192.168.1.0/33", "", ProblemInvalidCIDR, "not a CIDR"},
		{"example.com/24", "", ProblemInvalidCIDR, "not a CIDR"},
		{"192.168.1.0/", "", ProblemInvalidCIDR, "not a CIDR"},
		{strings.Repeat("1", 100), "", ProblemInvalidCIDR, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCIDR(tt.in)
			if tt.problem == 0 {
				if err != nil || got.String() != tt.want {
					t.Fatalf("ParseCIDR(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Problem != tt.problem || !strings.Contains(e.Msg, tt.msg) {
				t.Fatalf("ParseCIDR(%q) error = %v, want problem %d with %q", tt.in, err, tt.problem, tt.msg)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{"allow": Allow, "DENY": Deny, " deny ": Deny} {
		if got, err := ParseAction(in); err != nil || got != want {
			t.Errorf("ParseAction(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "block", "permit"} {
		var e *Error
		if _, err := ParseAction(in); !errors.As(err, &e) || e.Problem != ProblemInvalidAction {
			t.Errorf("ParseAction(%q) = %v, want ProblemInvalidAction", in, err)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1",
		"192.0.2.1:443":       "192.0.2.1",
		"[2001:db8::1]:443":   "2001:db8::1",
		"[2001:db8::1]":       "2001:db8::1",
		"::ffff:192.0.2.1":    "192.0.2.1",
		"fe80::1%eth0":        "fe80::1",
		"[fe80::1%eth0]:80":   "fe80::1",
		"[::ffff:10.0.0.1]:1": "10.0.0.1",
	} {
		got, err := ParseAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseAddr("not-an-ip"); err == nil {
		t.Error("ParseAddr accepted a name")
	}
}

// TestTenThousandRules compiles one policy of 10,000 rules and checks every decision.
func TestTenThousandRules(t *testing.T) {
	rs := bigRestriction()
	m := Compile(rs)
	if m.Len() != len(rs) {
		t.Fatalf("compiled %d rules, want %d", m.Len(), len(rs))
	}
	for i, r := range rs {
		ip := r.Prefix.Addr().Next()
		if got := m.Decide(ip); got.Rule.ID != r.ID || got.Allowed != (r.Action == Allow) {
			t.Fatalf("rule %d: Decide(%s) = %+v", i, ip, got)
		}
	}
}

// bigRestriction is 10,000 rules: /24s of 10.0.0.0/8 alternately allowed and denied, and /48s of
// 2001:db8::/32.
func bigRestriction() []Rule {
	rs := make([]Rule, 0, 10000)
	for i := 0; i < 10000; i++ {
		action := Allow
		if i%2 == 1 {
			action = Deny
		}
		var p netip.Prefix
		if i%4 < 2 {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		} else {
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48)
		}
		rs = append(rs, Rule{ID: fmt.Sprintf("ipr_%05d", i), PolicyID: "ipp_big", Prefix: p, Action: action})
	}
	return rs
}

// BenchmarkDecide measures one decision against a 10,000-rule restriction (target: under 100 ns).
func BenchmarkDecide(b *testing.B) {
	m := Compile(bigRestriction())
	ips := []netip.Addr{
		netip.MustParseAddr("10.39.15.7"),
		netip.MustParseAddr("2001:db8:27:e::1"),
		netip.MustParseAddr("203.0.113.9"),
		netip.MustParseAddr("::ffff:10.0.1.1"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = m.Decide(ips[i&3])
	}
}

func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"192.168.1.0/24", "192.168.1.5/24", "10.0.0.1", "::/0", "2001:db8::1/32",
		"::ffff:1.2.3.4/128", "fe80::1%eth0/64", "0.0.0.0/0", "1.2.3.4/33", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" || e.Problem == 0 {
				t.Fatalf("ParseCIDR(%q): error without a problem: %v", s, err)
			}
			if e.Suggestion != "" {
				// A suggestion always parses, and to itself.
				q, err := ParseCIDR(e.Suggestion)
				if err != nil || q.String() != e.Suggestion {
					t.Fatalf("suggestion %q for %q does not parse: %v %v", e.Suggestion, s, q, err)
				}
			}
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("ParseCIDR(%q) = %v: not a normalised network", s, p)
		}
		// Accepted CIDRs are stable, and the prefix contains its own network address.
		again, err := ParseCIDR(p.String())
		if err != nil || again != p {
			t.Fatalf("ParseCIDR(%q) = %v, re-parsed as %v %v", s, p, again, err)
		}
		if !Compile([]Rule{{Prefix: p, Action: Allow}}).Allowed(p.Addr()) {
			t.Fatalf("a rule allowing %v does not allow its own address", p)
		}
	})
}

// BenchmarkAllowed is BenchmarkDecide without building the explanation.
func BenchmarkAllowed(b *testing.B) {
	m := Compile(bigRestriction())
	ips := []netip.Addr{
		netip.MustParseAddr("10.39.15.7"),
		netip.MustParseAddr("2001:db8:27:e::1"),
		netip.MustParseAddr("203.0.113.9"),
		netip.MustParseAddr("::ffff:10.0.1.1"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = m.Allowed(ips[i&3])
	}
}
