package reservations

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDomain is the longest domain name DNS allows, in characters.
const MaxDomain = 253

// ValidateDomain checks a domain to reserve against the hostname rules (RFC 1123): two or more
// dot-separated parts of 1 to 63 letters, digits and inner hyphens, at most 253 characters, not
// an IP address and not a wildcard. It returns the domain normalised (trimmed, lower case,
// without a trailing dot), or a message that says what to fix.
func ValidateDomain(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "enter a domain, such as app.example.com"
	case strings.Contains(s, "://"):
		return "", "enter just the domain name, without http:// or https://"
	case strings.Contains(s, "/"):
		return "", "enter just the domain name, without a path"
	case strings.Contains(s, ":"):
		return "", "enter just the domain name, without a port (TCP addresses are reserved separately)"
	case strings.ContainsRune(s, '*'):
		return "", "wildcard domains cannot be reserved; reserve each domain by name"
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return "", "use the ASCII (punycode) form of an internationalised domain, such as xn--bcher-kva.example"
		}
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if len(s) > MaxDomain {
		return "", fmt.Sprintf("the domain is %d characters long; at most %d are allowed", len(s), MaxDomain)
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if msg := validateLabel(l); msg != "" {
			return "", msg
		}
	}
	if len(labels) < 2 {
		return "", "a domain needs at least two parts separated by dots, such as app.example.com"
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Sprintf("%s looks like an IP address; reserve a domain name instead", s)
	}
	return s, ""
}

// validateLabel checks one lower-case part of a domain.
func validateLabel(l string) string {
	if l == "" {
		return "the domain has an empty part: two dots in a row, or a leading dot"
	}
	if len(l) > 63 {
		return fmt.Sprintf("the part %q is %d characters long; each part of a domain may have at most 63", l[:20]+"…", len(l))
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("%q is not allowed in a domain: use letters, digits, hyphens and dots only", c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Sprintf("the part %q must not start or end with a hyphen", l)
	}
	return ""
}
