// Package secret makes the bearer secrets users hold (API keys, authtokens, session tokens) and
// the hashes that are stored instead of them.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// Secret is a new secret: the token to hand out once, the hash to store, and a short
// non-secret prefix for display ("ewk_Ab12Cd…").
type Secret struct {
	Token   string
	Hash    []byte
	Display string
}

// New returns a 256-bit random secret whose token starts with prefix.
func New(prefix string) Secret {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(b)
	return Secret{Token: token, Hash: Hash(token), Display: token[:len(prefix)+6]}
}

// Hash is how secrets are stored: SHA-256. The secrets are 256-bit random values, so a fast
// hash suffices (there is no dictionary to attack); it also makes lookup by hash possible.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
