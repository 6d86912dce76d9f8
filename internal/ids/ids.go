// Package ids makes and checks the prefixed, time-ordered identifiers every resource carries
// (ac_, usr_, ak_, ts_ ...). IDs sort by creation time, so "newest first" is "id descending".
package ids

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the resources, as in the reference.
const (
	Account       = "ac"
	User          = "usr"
	APIKey        = "ak"
	Credential    = "cr"
	TunnelSession = "ts"
	Tunnel        = "tn"
	IPPolicy      = "ipp"
	IPPolicyRule  = "ipr"
	IPRestriction = "ipx"
	Event         = "ev"
	Operation     = "op"
	ReservedAddr  = "ra"
	ReservedDom   = "rd"
	Invitation    = "inv"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh ID such as "ak_01JD3...": prefix, underscore, 26 Crockford base32 characters.
func New(prefix string) string {
	mu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	return prefix + "_" + strings.ToLower(id.String())
}

// Parse checks that s is a well-formed ID with the given prefix and returns it unchanged.
// The error says what a valid ID looks like, for API clients that send a wrong before_id.
func Parse(prefix, s string) (string, error) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok {
		return "", fmt.Errorf("%q is not a valid ID: it must start with %q", s, prefix+"_")
	}
	if len(rest) != ulid.EncodedSize {
		return "", fmt.Errorf("%q is not a valid ID: expected %q followed by %d characters", s, prefix+"_", ulid.EncodedSize)
	}
	if _, err := ulid.ParseStrict(strings.ToUpper(rest)); err != nil {
		return "", fmt.Errorf("%q is not a valid ID: %v", s, err)
	}
	return s, nil
}
