package credentials

import (
	"strings"
	"testing"
)

func TestValidateACL(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		problem string
	}{
		{"empty", nil, nil, ""},
		{"domain", []string{" bind:App.Example.com "}, []string{"bind:app.example.com"}, ""},
		{"wildcard", []string{"bind:*.example.com"}, []string{"bind:*.example.com"}, ""},
		{"tcp", []string{"bind:tcp.example.com:20001"}, []string{"bind:tcp.example.com:20001"}, ""},
		{"duplicates folded", []string{"bind:a.io", "BIND:a.io"}, []string{"bind:a.io"}, ""},
		{"missing prefix", []string{"app.example.com"}, nil, `must start with "bind:"`},
		{"empty target", []string{"bind:"}, nil, "name a domain"},
		{"inner wildcard", []string{"bind:app.*.com"}, nil, "wildcard is allowed only as the first part"},
		{"bare wildcard", []string{"bind:*"}, nil, "wildcard is allowed only"},
		{"bad port", []string{"bind:a.io:99999"}, nil, "port must be"},
		{"underscore", []string{"bind:a_b.io"}, nil, "not a valid domain part"},
		{"leading hyphen", []string{"bind:-a.io"}, nil, "not a valid domain part"},
		{"empty label", []string{"bind:a..io"}, nil, "1 to 63"},
		{"too many", make([]string, MaxACLRules+1), nil, "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := ValidateACL(tt.in)
			if tt.problem == "" {
				if len(problems) > 0 || strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("ValidateACL = %v, %v; want %v", got, problems, tt.want)
				}
				return
			}
			if len(problems) == 0 || !strings.Contains(strings.Join(problems, ";"), tt.problem) {
				t.Fatalf("problems %v, want one containing %q", problems, tt.problem)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	acl := []string{"bind:app.example.com", "bind:*.dev.example.com", "bind:tcp.example.com:20001"}
	for target, want := range map[string]bool{
		"app.example.com":           true,
		"APP.example.com":           true,
		"x.dev.example.com":         true,
		"a.b.dev.example.com":       true,
		"dev.example.com":           false,
		"other.example.com":         false,
		"tcp.example.com:20001":     true,
		"tcp.example.com:20002":     false,
		"evilapp.example.com":       false,
		"app.example.com.evil.test": false,
	} {
		if got := Allows(acl, target); got != want {
			t.Errorf("Allows(%q) = %v, want %v", target, got, want)
		}
	}
	if !Allows(nil, "anything.example.com") {
		t.Error("an empty ACL must allow everything")
	}
}

func FuzzValidateACL(f *testing.F) {
	for _, s := range []string{"bind:a.io", "bind:*.a.io", "bind:a.io:1", "bind:", "x", "bind:[::1]:80", "bind:*.*.a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		got, problems := ValidateACL([]string{rule})
		if len(problems) == 0 {
			if len(got) != 1 || !strings.HasPrefix(got[0], "bind:") {
				t.Fatalf("accepted %q as %v", rule, got)
			}
			// Accepted rules are stable: validating the normalised rule gives the same rule.
			again, p2 := ValidateACL(got)
			if len(p2) > 0 || again[0] != got[0] {
				t.Fatalf("normalised %q is not stable: %v %v", got[0], again, p2)
			}
		}
	})
}
