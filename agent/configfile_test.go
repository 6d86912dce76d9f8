package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFile(t *testing.T) {
	f, err := ParseFile([]byte(`
version: 1
authtoken: tok
region: eu
remote_management: false
tunnels:
  web: {proto: http, addr: 8080, domain: app}
  ssh: {proto: tcp, addr: "10.0.0.2:22", remote_addr: ":20001"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Authtoken != "tok" || f.Region != "eu" || f.RemoteManagement == nil || *f.RemoteManagement {
		t.Fatalf("file %+v", f)
	}
	web, err := f.Tunnel("web")
	if err != nil {
		t.Fatal(err)
	}
	want := Tunnel{Name: "web", Proto: "http", LocalAddr: "localhost:8080", Domain: "app"}
	if diff := cmp.Diff(want, web); diff != "" {
		t.Fatalf("web tunnel (-want +got):\n%s", diff)
	}
	if _, err := f.Tunnel("nope"); err == nil || !strings.Contains(err.Error(), "have: ssh, web") {
		t.Fatalf("unknown tunnel error: %v", err)
	}
}

func TestParseFileProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown key", "authtoken: x\nregoin: eu\n", []string{"field regoin not found"}},
		{"every problem", `
version: 2
region: mars
edges: {xx: "1:1"}
tunnels:
  a: {proto: udp, addr: 1}
  b: {proto: http, addr: "99999", remote_addr: ":1"}
  c: {proto: tcp, addr: 22, domain: x}
`, []string{"version 2", `unknown region "mars"`, `unknown region "xx"`, `tunnel a: proto "udp"`, "tunnel b: remote_addr", "tunnel b: addr: port 99999", "tunnel c: domain"}},
		{"not yaml", "{", []string{"decode agent config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tt.in))
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

func TestSetAuthtoken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "agent.yml")
	if err := SetAuthtoken(path, "first"); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path)
	if err != nil || f.Authtoken != "first" || f.Version != 1 {
		t.Fatalf("after create: %+v %v", f, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	// Existing content and comments survive a token change.
	if err := os.WriteFile(path, []byte("# mine\nregion: jp # tokyo\nauthtoken: old\ntunnels:\n  web: {proto: http, addr: 80}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetAuthtoken(path, "second"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	f, err = ParseFile(data)
	if err != nil || f.Authtoken != "second" || f.Region != "jp" || len(f.Tunnels) != 1 {
		t.Fatalf("after update: %+v %v\n%s", f, err, data)
	}
	if !strings.Contains(string(data), "# mine") || !strings.Contains(string(data), "# tokyo") {
		t.Fatalf("comments lost:\n%s", data)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParseFile: the strict decoder must never panic on arbitrary input.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("authtoken: x\ntunnels:\n  a: {proto: http, addr: 1}\n"))
	f.Add([]byte("edges: {us: 'a:1'}\nremote_management: false\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if file, err := ParseFile(in); err == nil {
			for _, n := range file.TunnelNames() {
				if _, err := file.Tunnel(n); err != nil {
					t.Fatalf("valid file has a broken tunnel %s: %v", n, err)
				}
			}
		}
	})
}
