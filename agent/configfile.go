package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

// File is the agent's YAML configuration file. Unknown keys are errors.
//
//	version: 1
//	authtoken: TOKEN
//	region: auto            # or us, eu, ap, au, sa, jp, in
//	remote_management: true # false refuses remote stop and restart
//	tunnels:
//	  web: {proto: http, addr: 8080, domain: app}
//	  ssh: {proto: tcp, addr: 22, remote_addr: ":20001"}
type File struct {
	Version   int    `yaml:"version,omitempty"`
	Authtoken string `yaml:"authtoken,omitempty"`
	Region    string `yaml:"region,omitempty"`
	// ServerAddr overrides the edge address (local development).
	ServerAddr string `yaml:"server_addr,omitempty"`
	// Edges maps region codes to edge addresses.
	Edges map[string]string `yaml:"edges,omitempty"`
	// CA is a PEM file of the CA that signs edge certificates.
	CA string `yaml:"ca,omitempty"`
	// Plaintext connects without TLS (development edges only).
	Plaintext bool `yaml:"plaintext,omitempty"`
	// RemoteManagement defaults to true.
	RemoteManagement *bool                 `yaml:"remote_management,omitempty"`
	Metadata         string                `yaml:"metadata,omitempty"`
	Tunnels          map[string]FileTunnel `yaml:"tunnels,omitempty"`
}

// FileTunnel is one tunnel of a File.
type FileTunnel struct {
	Proto      string `yaml:"proto"`
	Addr       string `yaml:"addr"`
	Domain     string `yaml:"domain,omitempty"`
	RemoteAddr string `yaml:"remote_addr,omitempty"`
	Pooling    bool   `yaml:"pooling,omitempty"`
	Metadata   string `yaml:"metadata,omitempty"`
}

// DefaultConfigPath returns $EDGEWAY_CONFIG, or agent.yml in the user's
// configuration directory (~/.config/edgeway/agent.yml on Linux).
func DefaultConfigPath(getenv func(string) string) string {
	if p := getenv("EDGEWAY_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, "edgeway", "agent.yml")
}

// ParseFile decodes and validates a configuration file, reporting every
// problem at once. Unknown keys are errors.
func ParseFile(data []byte) (*File, error) {
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode agent config: %w", err)
	}
	return f, f.Validate()
}

// LoadFile reads and parses the configuration file at path. A missing
// file yields an empty File and an error wrapping os.ErrNotExist.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &File{}, err
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Validate reports every problem with f.
func (f *File) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.Version != 0 && f.Version != 1 {
		add("version %d: this agent reads version 1", f.Version)
	}
	if f.Region != "" && f.Region != region.Auto {
		if _, err := region.Parse(f.Region); err != nil {
			add("region: %v (or auto)", err)
		}
	}
	for code := range f.Edges {
		if _, err := region.Parse(code); err != nil {
			add("edges: %v", err)
		}
	}
	for _, name := range f.TunnelNames() {
		t := f.Tunnels[name]
		switch t.Proto {
		case proto.ProtoHTTP:
			if t.RemoteAddr != "" {
				add("tunnel %s: remote_addr applies to tcp tunnels", name)
			}
		case proto.ProtoTCP:
			if t.Domain != "" {
				add("tunnel %s: domain applies to http tunnels", name)
			}
		default:
			add("tunnel %s: proto %q: want http or tcp", name, t.Proto)
		}
		if _, err := LocalAddr(t.Addr); err != nil {
			add("tunnel %s: addr: %v", name, err)
		}
	}
	return errors.Join(errs...)
}

// TunnelNames returns the tunnel names in sorted order.
func (f *File) TunnelNames() []string {
	names := make([]string, 0, len(f.Tunnels))
	for n := range f.Tunnels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Tunnel converts the named tunnel to a Tunnel.
func (f *File) Tunnel(name string) (Tunnel, error) {
	t, ok := f.Tunnels[name]
	if !ok {
		return Tunnel{}, fmt.Errorf("no tunnel named %q in the config file (have: %s)", name, strings.Join(f.TunnelNames(), ", "))
	}
	local, err := LocalAddr(t.Addr)
	if err != nil {
		return Tunnel{}, fmt.Errorf("tunnel %s: %w", name, err)
	}
	return Tunnel{Name: name, Proto: t.Proto, LocalAddr: local, Domain: t.Domain, RemoteAddr: t.RemoteAddr,
		Pooling: t.Pooling, Metadata: t.Metadata}, nil
}

// SetAuthtoken writes token into the configuration file at path, keeping
// everything else in it (comments included), creating the file and its
// directory when missing. The file is readable by its owner only.
func SetAuthtoken(path, token string) error {
	var doc yaml.Node
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if _, err := ParseFile(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: the top level is not a mapping", path)
	}
	set := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "authtoken" {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Value: token}
			set = true
		}
	}
	if !set {
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: "authtoken"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: token})
	}
	hasVersion := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		hasVersion = hasVersion || m.Content[i].Value == "version"
	}
	if !hasVersion {
		m.Content = append([]*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "version"}, {Kind: yaml.ScalarNode, Value: "1", Tag: "!!int"},
		}, m.Content...)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LocalAddr turns "8080", "host:8080" or "http://host:8080" into
// host:port (host defaults to localhost).
func LocalAddr(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
	s = strings.TrimSuffix(s, "/")
	if p, err := strconv.Atoi(s); err == nil {
		if p < 1 || p > 65535 {
			return "", fmt.Errorf("port %d is out of range", p)
		}
		return "localhost:" + s, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a port or HOST:PORT", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q has no valid port", s)
	}
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port), nil
}
