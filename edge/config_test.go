package edge

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		Region:    "us",
		HTTPAddr:  "127.0.0.1:8000",
		AgentAddr: "127.0.0.1:4443",
		OpsAddr:   "127.0.0.1:9100",
		TCPPorts:  PortRange{20000, 20099},
	}.WithDefaults()
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "unknown region", mutate: func(c *Config) { c.Region = "xx" }, want: []string{`region: unknown region "xx"`}},
		{name: "missing addresses", mutate: func(c *Config) { c.HTTPAddr, c.AgentAddr, c.OpsAddr = "", "", "" },
			want: []string{"http addr: required", "agent addr: required", "ops addr: required"}},
		{name: "duplicate address", mutate: func(c *Config) { c.OpsAddr = c.HTTPAddr }, want: []string{"already used by http addr"}},
		{name: "listener inside tcp range", mutate: func(c *Config) { c.HTTPAddr = "127.0.0.1:20050" }, want: []string{"lies inside the tcp port range"}},
		{name: "bad base domain", mutate: func(c *Config) { c.BaseDomain = "Bad_Domain" }, want: []string{"base domain"}},
		{name: "half tls", mutate: func(c *Config) { c.TLSCertFile = "c.pem" }, want: []string{"tls: set both"}},
		{name: "negative timeout", mutate: func(c *Config) { c.DrainTimeout = -time.Second }, want: []string{"must not be negative"}},
		{name: "bad tcp host", mutate: func(c *Config) { c.TCPHost = "example.com" }, want: []string{"must be an IP address"}},
		{name: "everything at once", mutate: func(c *Config) {
			c.Region, c.HTTPAddr, c.TCPPorts = "zz", "nope", PortRange{5, 1}
		}, want: []string{"region", "http addr", "tcp ports"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Region: "jp", HTTPAddr: "127.0.0.2:80"}.WithDefaults()
	if c.BaseDomain != "jp.localhost" || c.PublicHost != "jp.localhost" || c.TCPHost != "127.0.0.2" || c.DrainTimeout != 10*time.Second {
		t.Fatalf("defaults %+v", c)
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{in: "20000-20099", want: PortRange{20000, 20099}},
		{in: " 3000 ", want: PortRange{3000, 3000}},
		{in: "", want: PortRange{}},
		{in: "2-1", wantErr: "first port is greater"},
		{in: "0-10", wantErr: "between 1 and 65535"},
		{in: "1-70000", wantErr: "between 1 and 65535"},
		{in: "a-b", wantErr: "want FIRST-LAST"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
	r := PortRange{10, 12}
	if r.Size() != 3 || !r.Contains(12) || r.Contains(13) || (PortRange{}).Contains(0) {
		t.Fatal("PortRange helpers are wrong")
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"App.US.localhost:8000": "app.us.localhost",
		"a.us.localhost":        "a.us.localhost",
		"a.us.localhost.":       "a.us.localhost",
		"[::1]:80":              "[::1]",
		"":                      "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestACL(t *testing.T) {
	ss := &session{grant: Grant{ACL: []string{"bind:app.us.localhost", "bind:*.team.us.localhost", "other:x"}}}
	for name, want := range map[string]bool{
		"app.us.localhost":        true,
		"x.team.us.localhost":     true,
		"team.us.localhost":       false,
		"evil.us.localhost":       false,
		"app.us.localhost.evil":   false,
		"x.evilteam.us.localhost": false,
	} {
		if got := ss.allowed(name); got != want {
			t.Errorf("allowed(%q) = %v, want %v", name, got, want)
		}
	}
	if !(&session{}).allowed("anything") {
		t.Error("an empty ACL must allow everything")
	}
}

func TestQuoteJSON(t *testing.T) {
	hdr := encodeProxyHeader("tn_1", "tcp", "1.2.3.4:5\"\n")
	if !strings.Contains(string(hdr), `"client_addr":"1.2.3.4:5\"\u000a"`) {
		t.Fatalf("header %q", hdr[6:])
	}
}
