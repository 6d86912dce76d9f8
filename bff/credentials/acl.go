package credentials

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MaxACLRules caps the bind rules of one credential.
const MaxACLRules = 100

// ValidateACL checks "bind:" rules: "bind:app.example.com", "bind:*.example.com" (any subdomain),
// or "bind:host:port" for TCP addresses. It returns the rules normalised (lower case, trimmed)
// or a message per bad rule.
func ValidateACL(rules []string) ([]string, []string) {
	var out, problems []string
	if len(rules) > MaxACLRules {
		return nil, []string{fmt.Sprintf("at most %d ACL rules are allowed (got %d)", MaxACLRules, len(rules))}
	}
	seen := map[string]bool{}
	for i, r := range rules {
		r = strings.ToLower(strings.TrimSpace(r))
		target, ok := strings.CutPrefix(r, "bind:")
		if !ok {
			problems = append(problems, fmt.Sprintf("rule %d %q must start with \"bind:\", e.g. bind:app.example.com", i+1, r))
			continue
		}
		if msg := validateTarget(target); msg != "" {
			problems = append(problems, fmt.Sprintf("rule %d %q: %s", i+1, r, msg))
			continue
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, problems
}

func validateTarget(t string) string {
	if t == "" {
		return "name a domain or a host:port after bind:"
	}
	if host, port, err := net.SplitHostPort(t); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "the port must be a number from 1 to 65535"
		}
		if msg := validateDomain(host, false); msg != "" {
			return msg
		}
		return ""
	}
	return validateDomain(t, true)
}

func validateDomain(d string, wildcard bool) string {
	if len(d) > 253 {
		return "the domain is longer than 253 characters"
	}
	labels := strings.Split(d, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && wildcard && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 {
			return "every part of the domain must be 1 to 63 characters"
		}
		for j, c := range l {
			alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !alnum && (c != '-' || j == 0 || j == len(l)-1) {
				if l == "*" {
					return "a wildcard is allowed only as the first part, as in *.example.com"
				}
				return fmt.Sprintf("%q is not a valid domain part (letters, digits and inner hyphens only)", l)
			}
		}
	}
	return ""
}

// Allows reports whether acl lets a session bind target (a hostname or host:port). An empty ACL
// allows everything.
func Allows(acl []string, target string) bool {
	if len(acl) == 0 {
		return true
	}
	target = strings.ToLower(target)
	for _, r := range acl {
		rule := strings.TrimPrefix(r, "bind:")
		if rule == target {
			return true
		}
		if suffix, ok := strings.CutPrefix(rule, "*."); ok && strings.HasSuffix(target, "."+suffix) {
			return true
		}
	}
	return false
}
