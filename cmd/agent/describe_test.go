package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/edgeway/edgeway/internal/proto"
)

func TestDescribePutsTheRefusalFirst(t *testing.T) {
	limit := proto.Errorf(proto.CodeSessionLimit, "plan limit reached: the Free plan allows 3 agent sessions online")
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("authenticate with edge 127.0.0.1:9002: %w", limit),
			"ERR_SESSION_LIMIT: plan limit reached: the Free plan allows 3 agent sessions online (authenticate with edge 127.0.0.1:9002)"},
		{limit, "ERR_SESSION_LIMIT: plan limit reached: the Free plan allows 3 agent sessions online"},
		{errors.New("connect to edge 127.0.0.1:1: connection refused"), "connect to edge 127.0.0.1:1: connection refused"},
		// A proto error that is not at the end of the chain keeps the whole text.
		{fmt.Errorf("outer: %w: then more", limit), "outer: ERR_SESSION_LIMIT: plan limit reached: the Free plan allows 3 agent sessions online: then more"},
	}
	for _, tt := range tests {
		if got := describe(tt.err); got != tt.want {
			t.Errorf("describe(%v)\n got %q\nwant %q", tt.err, got, tt.want)
		}
	}
}
