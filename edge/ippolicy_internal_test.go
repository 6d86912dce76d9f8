package edge

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/edgeway/edgeway/internal/proto"
)

func TestIPCheckDecisions(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	if d, blocked := s.ipCheck("ac_1", netip.MustParseAddr("127.0.0.1"), "x"); d != "" || blocked {
		t.Fatalf("nothing installed: %q %v", d, blocked)
	}
	set := func(enforced bool) proto.IPPolicySet {
		return proto.IPPolicySet{AccountID: "ac_1", RestrictionID: "ipx_1", Enforced: enforced, Rules: []proto.IPPolicyRule{
			{CIDR: "192.0.2.0/24", Action: "allow"}, {CIDR: "192.0.2.7/32", Action: "deny"}, {CIDR: "2001:db8::/32", Action: "allow"}}}
	}
	s.SetIPPolicies(true, set(true))
	for _, c := range []struct {
		ip       string
		decision string
		blocked  bool
	}{
		{"192.0.2.1", IPAllowed, false},
		{"::ffff:192.0.2.1", IPAllowed, false}, // IPv4-mapped is the IPv4 address
		{"192.0.2.7", IPDenied, true},
		{"2001:db8::1", IPAllowed, false},
		{"198.51.100.1", IPDenied, true}, // no rule matches: denied
	} {
		ip := remoteIP(netip.AddrPortFrom(netip.MustParseAddr(c.ip), 80).String())
		if d, b := s.ipCheck("ac_1", ip, "x"); d != c.decision || b != c.blocked {
			t.Errorf("%s: %q %v, want %q %v", c.ip, d, b, c.decision, c.blocked)
		}
	}
	if d, b := s.ipCheck("ac_other", netip.MustParseAddr("198.51.100.1"), "x"); d != "" || b {
		t.Errorf("another account: %q %v", d, b)
	}
	if d, b := s.ipCheck("ac_1", remoteIP("garbage"), "x"); d != IPDenied || !b {
		t.Errorf("unparsable address: %q %v", d, b)
	}
	s.SetIPPolicies(false, set(false))
	if d, b := s.ipCheck("ac_1", netip.MustParseAddr("198.51.100.1"), "x"); d != IPWarned || b {
		t.Errorf("warn-only: %q %v", d, b)
	}
	// An answer to a sign-in does not replace what a push installed.
	s.setIPPolicyIfAbsent(proto.IPPolicySet{AccountID: "ac_1"})
	if d, _ := s.ipCheck("ac_1", netip.MustParseAddr("198.51.100.1"), "x"); d != IPWarned {
		t.Errorf("sign-in answer replaced a push: %q", d)
	}
	s.SetIPPolicies(false, proto.IPPolicySet{AccountID: "ac_1"})
	if d, b := s.ipCheck("ac_1", netip.MustParseAddr("198.51.100.1"), "x"); d != "" || b {
		t.Errorf("lifted: %q %v", d, b)
	}
}
