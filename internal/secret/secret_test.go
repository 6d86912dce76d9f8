package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	a, b := New("ewk_"), New("ewk_")
	if a.Token == b.Token || bytes.Equal(a.Hash, b.Hash) {
		t.Fatal("two secrets are equal")
	}
	if !strings.HasPrefix(a.Token, "ewk_") || len(a.Token) != 4+43 || !strings.HasPrefix(a.Token, a.Display) || len(a.Display) != 10 {
		t.Fatalf("secret %+v", a)
	}
	if !bytes.Equal(Hash(a.Token), a.Hash) || bytes.Contains(a.Hash, []byte(a.Token)) {
		t.Fatal("hash does not match token")
	}
}
