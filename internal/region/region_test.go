package region

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Code
		wantErr string
	}{
		{name: "us", in: "us", want: US},
		{name: "upper case and space", in: " EU ", want: EU},
		{name: "india", in: "in", want: IN},
		{name: "unknown", in: "mars", wantErr: `unknown region "mars"; valid regions: us, eu, ap, au, sa, jp, in`},
		{name: "empty", in: "", wantErr: "region is empty"},
		{name: "auto is not an edge region", in: "auto", wantErr: "unknown region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	want := map[Code]string{
		US: "United States (Ohio)",
		EU: "Europe (Frankfurt)",
		AP: "Asia/Pacific (Singapore)",
		AU: "Australia (Sydney)",
		SA: "South America (Sao Paulo)",
		JP: "Japan (Tokyo)",
		IN: "India (Mumbai)",
	}
	if len(All()) != len(want) {
		t.Fatalf("All() has %d regions, want %d", len(All()), len(want))
	}
	for c, name := range want {
		if got := c.Name(); got != name {
			t.Errorf("%s.Name() = %q, want %q", c, got, name)
		}
	}
	if Code("xx").Name() != "" || Code("xx").Valid() {
		t.Error("unknown code must have no name and be invalid")
	}
	if got := len(Codes()); got != 7 {
		t.Errorf("len(Codes()) = %d, want 7", got)
	}
}
