package ippolicy

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
)

func TestParseRuleCIDR(t *testing.T) {
	tests := []struct {
		in, want, code, field, suggestion string
	}{
		{in: "192.168.1.0/24", want: "192.168.1.0/24"},
		{in: "2001:DB8::/32", want: "2001:db8::/32"},
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "192.168.1.5/24", code: httperr.CodeIPRuleNotNetwork, field: "did you mean 192.168.1.0/24?", suggestion: "192.168.1.0/24"},
		{in: "2001:db8::1/64", code: httperr.CodeIPRuleNotNetwork, field: "did you mean 2001:db8::/64?", suggestion: "2001:db8::/64"},
		{in: "10.1.2.3", code: httperr.CodeIPRuleMissingMask, field: "10.1.2.3/32", suggestion: "10.1.2.3/32"},
		{in: "fe80::1%eth0/64", code: httperr.CodeValidation, field: "not a CIDR"},
		{in: "300.1.1.0/24", code: httperr.CodeValidation, field: "not a CIDR"},
		{in: "", code: httperr.CodeValidation, field: "required"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRuleCIDR(tt.in)
			if tt.code == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseRuleCIDR(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			e, ok := httperr.As(err)
			if !ok || e.Code != tt.code || e.Status != 400 || !strings.Contains(e.Fields["cidr"], tt.field) {
				t.Fatalf("ParseRuleCIDR(%q) error = %v, want %s with %q", tt.in, err, tt.code, tt.field)
			}
			if s, _ := e.Details["suggestion"].(string); s != tt.suggestion {
				t.Fatalf("suggestion = %q, want %q", s, tt.suggestion)
			}
		})
	}
}

func TestParseRuleActionAndType(t *testing.T) {
	if a, err := ParseRuleAction(" Deny "); err != nil || a != "deny" {
		t.Fatalf("ParseRuleAction = %q %v", a, err)
	}
	if _, err := ParseRuleAction("block"); err == nil {
		t.Fatal("block accepted")
	} else if e, _ := httperr.As(err); e.Code != httperr.CodeIPRuleInvalidAction {
		t.Fatalf("code %s", e.Code)
	}
	for _, typ := range Types {
		if err := ValidType(typ); err != nil {
			t.Errorf("ValidType(%q) = %v", typ, err)
		}
	}
	if e, _ := httperr.As(ValidType("console")); e == nil || e.Code != httperr.CodeIPRestrictionTypeInvalid {
		t.Fatalf("ValidType(console) = %v", e)
	}
}

func FuzzParseRuleCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "10.0.0.1", "::/0", "::ffff:1.2.3.4/128", "x", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseRuleCIDR(s)
		if err != nil {
			if e, ok := httperr.As(err); !ok || e.Status != 400 || e.Fields["cidr"] == "" {
				t.Fatalf("ParseRuleCIDR(%q): %v is not a 400 with a cidr field", s, err)
			}
			return
		}
		// What is stored fits the column and is stable.
		if len(got) < 4 || len(got) > 43 {
			t.Fatalf("ParseRuleCIDR(%q) = %q: does not fit the column", s, got)
		}
		if again, err := ParseRuleCIDR(got); err != nil || again != got {
			t.Fatalf("ParseRuleCIDR(%q) = %q, again %q %v", s, got, again, err)
		}
	})
}
