package reservations

import (
	"strings"
	"testing"
)

func TestValidateDomain(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name    string
		in      string
		want    string
		problem string
	}{
		{name: "simple", in: "app.example.com", want: "app.example.com"},
		{name: "case and space folded", in: "  App.Example.COM ", want: "app.example.com"},
		{name: "trailing dot dropped", in: "app.example.com.", want: "app.example.com"},
		{name: "digits and inner hyphens", in: "my-app-2.example.io", want: "my-app-2.example.io"},
		{name: "punycode", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "63-character label", in: long + ".example.com", want: long + ".example.com"},
		{name: "253 characters", in: strings.Repeat(long+".", 3) + strings.Repeat("b", 61), want: strings.Repeat(long+".", 3) + strings.Repeat("b", 61)},
		{name: "empty", in: "  ", problem: "enter a domain"},
		{name: "scheme", in: "https://app.example.com", problem: "without http://"},
		{name: "path", in: "app.example.com/x", problem: "without a path"},
		{name: "port", in: "app.example.com:443", problem: "without a port"},
		{name: "wildcard", in: "*.example.com", problem: "wildcard domains cannot be reserved"},
		{name: "unicode", in: "bücher.example", problem: "punycode"},
		{name: "one label", in: "localhost", problem: "at least two parts"},
		{name: "254 characters", in: strings.Repeat(long+".", 3) + strings.Repeat("b", 62), problem: "254 characters long; at most 253"},
		{name: "64-character label", in: long + "a.example.com", problem: "at most 63"},
		{name: "empty label", in: "app..example.com", problem: "empty part"},
		{name: "leading dot", in: ".example.com", problem: "empty part"},
		{name: "two trailing dots", in: "example.com..", problem: "empty part"},
		{name: "underscore", in: "my_app.example.com", problem: `'_' is not allowed`},
		{name: "space inside", in: "my app.example.com", problem: `' ' is not allowed`},
		{name: "leading hyphen", in: "-app.example.com", problem: "must not start or end with a hyphen"},
		{name: "trailing hyphen", in: "app-.example.com", problem: "must not start or end with a hyphen"},
		{name: "IPv4", in: "192.168.1.1", problem: "looks like an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := ValidateDomain(tt.in)
			if tt.problem == "" {
				if problem != "" || got != tt.want {
					t.Fatalf("ValidateDomain(%q) = %q, %q; want %q", tt.in, got, problem, tt.want)
				}
				return
			}
			if got != "" || !strings.Contains(problem, tt.problem) {
				t.Fatalf("ValidateDomain(%q) = %q, %q; want a problem containing %q", tt.in, got, problem, tt.problem)
			}
		})
	}
}

func FuzzValidateDomain(f *testing.F) {
	for _, s := range []string{"app.example.com", "A.B.", "*.a.io", "a..b", "1.2.3.4", "xn--p1ai.xn--p1ai", "a:1", "-a.b", "é.fr", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, problem := ValidateDomain(in)
		if problem != "" {
			if got != "" {
				t.Fatalf("rejected %q with %q but returned %q", in, problem, got)
			}
			return
		}
		// Accepted domains follow the hostname rules.
		if len(got) == 0 || len(got) > MaxDomain || got != strings.ToLower(got) || strings.Count(got, ".") < 1 {
			t.Fatalf("accepted %q as %q", in, got)
		}
		for _, l := range strings.Split(got, ".") {
			if validateLabel(l) != "" {
				t.Fatalf("accepted %q as %q with bad part %q", in, got, l)
			}
		}
		// Normalising is stable.
		if again, p := ValidateDomain(got); again != got || p != "" {
			t.Fatalf("normalised %q is not stable: %q %q", got, again, p)
		}
	})
}
