package edge

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/internal/region"
)

// Config configures one edge server. The zero values of optional fields
// get the defaults documented on them (see WithDefaults).
type Config struct {
	// Region is the one region this edge serves.
	Region region.Code
	// BaseDomain is the parent of random subdomains, such as
	// "us.localhost". Default: "<region>.localhost".
	BaseDomain string

	// HTTPAddr is the public HTTP listener, such as "127.0.0.1:8080".
	HTTPAddr string
	// HTTPSAddr is the public HTTPS listener; empty disables it. Without
	// TLSCertFile it serves an ephemeral self-signed certificate for
	// "*.BaseDomain".
	HTTPSAddr string
	// AgentAddr is where agents connect. It speaks TLS when TLSCertFile is
	// set and plain TCP otherwise (development and tests only).
	AgentAddr string
	// OpsAddr serves /healthz and /metrics.
	OpsAddr string

	// TCPPorts is the range TCP endpoints are served from; the zero range
	// disables TCP tunnels.
	TCPPorts PortRange
	// TCPHost is the IP TCP endpoints listen on. Default: the host of
	// HTTPAddr, or all interfaces when that is empty.
	TCPHost string
	// PublicHost is the host name put in TCP public URLs. Default:
	// BaseDomain.
	PublicHost string

	// BFFAddr is the bff's control-channel address (not used yet).
	BFFAddr string

	// TLSCertFile and TLSKeyFile hold the PEM certificate (a wildcard for
	// *.BaseDomain plus the agent host name) and its key.
	TLSCertFile string
	TLSKeyFile  string

	// DrainTimeout bounds graceful shutdown. Default: 10s.
	DrainTimeout time.Duration
	// HandshakeTimeout bounds an agent's TLS handshake and authentication.
	// Default: 10s.
	HandshakeTimeout time.Duration
	// HeartbeatInterval is how often agents send heartbeats. Default: 10s.
	HeartbeatInterval time.Duration
	// AddedLatency delays every handshake answer (probe and auth) to
	// simulate a distant region, for tests of region choice.
	AddedLatency time.Duration
}

// WithDefaults returns c with defaults filled in for unset optional fields.
func (c Config) WithDefaults() Config {
	if c.BaseDomain == "" && c.Region != "" {
		c.BaseDomain = string(c.Region) + ".localhost"
	}
	c.BaseDomain = strings.ToLower(strings.TrimSuffix(c.BaseDomain, "."))
	if c.PublicHost == "" {
		c.PublicHost = c.BaseDomain
	}
	if c.TCPHost == "" {
		if h, _, err := net.SplitHostPort(c.HTTPAddr); err == nil {
			c.TCPHost = h
		}
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	return c
}

// Validate reports every problem with c at once, joined into one error.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := region.Parse(string(c.Region)); err != nil {
		add("region: %v", err)
	}
	if err := validDomain(c.BaseDomain); err != nil {
		add("base domain: %v", err)
	}
	type named struct{ name, addr string }
	addrs := []named{{"http addr", c.HTTPAddr}, {"agent addr", c.AgentAddr}, {"ops addr", c.OpsAddr}}
	if c.HTTPSAddr != "" {
		addrs = append(addrs, named{"https addr", c.HTTPSAddr})
	}
	if c.BFFAddr != "" {
		addrs = append(addrs, named{"bff addr", c.BFFAddr})
	}
	seen := map[string]string{}
	for _, a := range addrs {
		if a.addr == "" {
			add("%s: required", a.name)
			continue
		}
		_, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			add("%s %q: %v", a.name, a.addr, err)
			continue
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			add("%s %q: port must be a number from 0 to 65535", a.name, a.addr)
			continue
		}
		if a.name == "bff addr" {
			continue
		}
		if p != 0 {
			if other, dup := seen[a.addr]; dup {
				add("%s %q: already used by %s", a.name, a.addr, other)
			}
			seen[a.addr] = a.name
			if c.TCPPorts.Contains(p) {
				add("%s %q: port %d lies inside the tcp port range %s", a.name, a.addr, p, c.TCPPorts)
			}
		}
	}
	if err := c.TCPPorts.validate(); err != nil {
		add("tcp ports: %v", err)
	}
	if c.TCPHost != "" && net.ParseIP(c.TCPHost) == nil && c.TCPHost != "localhost" {
		add("tcp host %q: must be an IP address", c.TCPHost)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("tls: set both the certificate and the key file, or neither")
	}
	if c.DrainTimeout < 0 || c.HandshakeTimeout < 0 || c.HeartbeatInterval < 0 || c.AddedLatency < 0 {
		add("timeouts must not be negative")
	}
	return errors.Join(errs...)
}

func validDomain(d string) error {
	if d == "" {
		return errors.New("required")
	}
	if len(d) > 200 {
		return errors.New("too long")
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label) {
			return fmt.Errorf("%q is not a valid DNS name", d)
		}
	}
	return nil
}

// validLabel reports whether s is a lower-case DNS label.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// PortRange is an inclusive range of TCP ports. The zero value is empty.
type PortRange struct {
	Min, Max int
}

// ParsePortRange parses "20000-20099", a single port "20000", or the empty
// string (the empty range).
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return PortRange{}, nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	min, err1 := strconv.Atoi(strings.TrimSpace(lo))
	max, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("%q: want FIRST-LAST, such as 20000-20099", s)
	}
	r := PortRange{Min: min, Max: max}
	if err := r.validate(); err != nil {
		return PortRange{}, fmt.Errorf("%q: %w", s, err)
	}
	return r, nil
}

func (r PortRange) validate() error {
	if r == (PortRange{}) {
		return nil
	}
	if r.Min < 1 || r.Max > 65535 {
		return errors.New("ports must be between 1 and 65535")
	}
	if r.Min > r.Max {
		return errors.New("first port is greater than last port")
	}
	return nil
}

// Empty reports whether r holds no port.
func (r PortRange) Empty() bool { return r.Max == 0 }

// Contains reports whether port p lies in r.
func (r PortRange) Contains(p int) bool { return !r.Empty() && p >= r.Min && p <= r.Max }

// Size returns the number of ports in r.
func (r PortRange) Size() int {
	if r.Empty() {
		return 0
	}
	return r.Max - r.Min + 1
}

// String returns "MIN-MAX", or "" for the empty range.
func (r PortRange) String() string {
	if r.Empty() {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}
