package ids

import (
	"strings"
	"testing"
)

func TestNewSortsByCreation(t *testing.T) {
	prev := New(APIKey)
	for i := 0; i < 1000; i++ {
		next := New(APIKey)
		if next <= prev {
			t.Fatalf("ids not increasing: %s then %s", prev, next)
		}
		if _, err := Parse(APIKey, next); err != nil {
			t.Fatalf("Parse(New()) = %v", err)
		}
		prev = next
	}
}

func TestParse(t *testing.T) {
	good := New(IPPolicy)
	tests := []struct {
		name, prefix, in, wantErr string
	}{
		{"valid", IPPolicy, good, ""},
		{"wrong prefix", APIKey, good, `must start with "ak_"`},
		{"too short", IPPolicy, "ipp_123", "followed by 26 characters"},
		{"bad characters", IPPolicy, "ipp_" + strings.Repeat("u", 26), "not a valid ID"},
		{"empty", IPPolicy, "", "must start with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.prefix, tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("ak", New(APIKey))
	f.Add("ipp", "ipp_zzzzzzzzzzzzzzzzzzzzzzzzzz")
	f.Add("ts", "")
	f.Fuzz(func(t *testing.T, prefix, s string) {
		got, err := Parse(prefix, s)
		if err == nil && (got != s || !strings.HasPrefix(s, prefix+"_")) {
			t.Fatalf("Parse(%q,%q) accepted a malformed id", prefix, s)
		}
	})
}
