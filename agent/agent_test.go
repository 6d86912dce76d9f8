package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/internal/proto"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	wantCaps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, c := range wantCaps {
		c *= time.Millisecond
		d := b.Next()
		if d < c/2 || d > c {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, c/2, c)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
	// Jitter: a fleet does not retry in lockstep.
	seen := map[time.Duration]bool{}
	for i := 0; i < 20; i++ {
		b := Backoff{Min: time.Second, Max: time.Minute}
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 20 draws", len(seen))
	}
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{proto.Errorf(proto.CodeAuthFailed, "bad"), true},
		{proto.Errorf(proto.CodeEndpointOnline, "taken"), true},
		{proto.Errorf(proto.CodeVersionUnsupported, "old"), true},
		{&RemoteCommand{Kind: "stop"}, true},
		{proto.Errorf(proto.CodeDraining, "bye"), false},
		{proto.Errorf(proto.CodeInternal, "oops"), false},
		{errors.New("connection refused"), false},
		{ErrEdgeDraining, false},
	}
	for _, tt := range tests {
		if got := Permanent(tt.err); got != tt.want {
			t.Errorf("Permanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestParseEdges(t *testing.T) {
	m, err := ParseEdges("us=127.0.0.1:1, EU=h:2,")
	if err != nil || m["us"] != "127.0.0.1:1" || m["eu"] != "h:2" || len(m) != 2 {
		t.Fatalf("got %v, %v", m, err)
	}
	_, err = ParseEdges("mars=x:1,us,=y")
	for _, w := range []string{`edge "mars=x:1"`, `edge "us"`, `edge "=y"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if d := DefaultEdges(); len(d) != 7 || d["eu"] != "127.0.0.1:9012" {
		t.Fatalf("DefaultEdges %v", d)
	}
}

func TestForwardsTo(t *testing.T) {
	if got := (Tunnel{Proto: "http", LocalAddr: "localhost:8080"}).ForwardsTo(); got != "http://localhost:8080" {
		t.Fatal(got)
	}
	if got := (Tunnel{Proto: "tcp", LocalAddr: "localhost:22"}).ForwardsTo(); got != "localhost:22" {
		t.Fatal(got)
	}
}
