package reservations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/internal/region"
)

// EdgeConfig is one regional edge as EDGEWAY_EDGES describes it (the JSON that bin/devstack
// writes): its region, listen addresses, TCP port range "FIRST-LAST" and base domain.
// PublicHost is the host put in TCP addresses; it defaults to BaseDomain, as the edge's does.
type EdgeConfig struct {
	Region     string `json:"region"`
	HTTPAddr   string `json:"http_addr"`
	HTTPSAddr  string `json:"https_addr"`
	AgentAddr  string `json:"agent_addr"`
	OpsAddr    string `json:"ops_addr"`
	TCPPorts   string `json:"tcp_ports"`
	BaseDomain string `json:"base_domain"`
	PublicHost string `json:"public_host,omitempty"`
}

// Edge is a parsed EdgeConfig.
type Edge struct {
	Region     region.Code
	HTTPAddr   string
	HTTPSAddr  string
	AgentAddr  string
	OpsAddr    string
	FirstPort  int // first TCP port; 0 when the edge serves no TCP addresses
	LastPort   int
	BaseDomain string // parent of the region's subdomains, e.g. "eu.localhost"
	PublicHost string // host of the region's TCP addresses
}

// ServesTCP reports whether the edge has a TCP port range.
func (e Edge) ServesTCP() bool { return e.FirstPort > 0 }

// Ports returns the TCP port range as "FIRST-LAST", or "" when there is none.
func (e Edge) Ports() string {
	if !e.ServesTCP() {
		return ""
	}
	return fmt.Sprintf("%d-%d", e.FirstPort, e.LastPort)
}

// Regions is the deployment's regional edges, by region. A region without an entry has no edge:
// domains can still be reserved there, TCP addresses cannot.
type Regions map[region.Code]Edge

// ParseRegions parses EDGEWAY_EDGES: a JSON list of EdgeConfig. Unknown keys are errors; every
// problem is reported at once. An empty string means no edges.
func ParseRegions(s string) (Regions, error) {
	out := Regions{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	var list []EdgeConfig
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("edges: not a JSON list of {region, http_addr, https_addr, agent_addr, ops_addr, tcp_ports, base_domain}: %w", err)
	}
	if dec.More() {
		return nil, errors.New("edges: data after the JSON list")
	}
	var errs []error
	for i, ec := range list {
		e, err := parseEdge(ec)
		if err != nil {
			errs = append(errs, fmt.Errorf("edges[%d]: %w", i, err))
			continue
		}
		if _, dup := out[e.Region]; dup {
			errs = append(errs, fmt.Errorf("edges[%d]: region %s is listed twice; one edge serves each region", i, e.Region))
			continue
		}
		out[e.Region] = e
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func parseEdge(ec EdgeConfig) (Edge, error) {
	var errs []error
	code, err := region.Parse(ec.Region)
	if err != nil {
		return Edge{}, err
	}
	e := Edge{Region: code, HTTPAddr: ec.HTTPAddr, HTTPSAddr: ec.HTTPSAddr, AgentAddr: ec.AgentAddr, OpsAddr: ec.OpsAddr}
	e.BaseDomain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(ec.BaseDomain), "."))
	if e.BaseDomain == "" {
		e.BaseDomain = string(code) + ".localhost"
	}
	if _, msg := ValidateDomain(e.BaseDomain); msg != "" {
		errs = append(errs, fmt.Errorf("base_domain %q: %s", ec.BaseDomain, msg))
	}
	e.PublicHost = strings.ToLower(strings.TrimSpace(ec.PublicHost))
	if e.PublicHost == "" {
		e.PublicHost = e.BaseDomain
	} else if _, msg := ValidateDomain(e.PublicHost); msg != "" && net.ParseIP(e.PublicHost) == nil && e.PublicHost != "localhost" {
		errs = append(errs, fmt.Errorf("public_host %q: not a host name or IP address: %s", ec.PublicHost, msg))
	}
	if p := strings.TrimSpace(ec.TCPPorts); p != "" {
		first, last, ok := strings.Cut(p, "-")
		a, errA := strconv.Atoi(strings.TrimSpace(first))
		b, errB := strconv.Atoi(strings.TrimSpace(last))
		if !ok || errA != nil || errB != nil || a < 1 || b > 65535 || a > b {
			errs = append(errs, fmt.Errorf("tcp_ports %q: want FIRST-LAST, such as 20000-20099, within 1-65535", ec.TCPPorts))
		} else {
			e.FirstPort, e.LastPort = a, b
		}
	}
	return e, errors.Join(errs...)
}

// Edge returns the edge of region c.
func (r Regions) Edge(c region.Code) (Edge, bool) {
	e, ok := r[c]
	return e, ok
}

// WithTCP returns the codes of the regions whose edges serve TCP addresses, in display order.
func (r Regions) WithTCP() []region.Code {
	var out []region.Code
	for _, c := range region.Codes() {
		if e, ok := r[c]; ok && e.ServesTCP() {
			out = append(out, c)
		}
	}
	return out
}

// underBase returns the region whose base domain domain lies under (or is), the part before the
// base domain ("" when domain is the base domain itself), and whether there is such a region.
func (r Regions) underBase(domain string) (region.Code, string, bool) {
	for _, c := range region.Codes() {
		e, ok := r[c]
		if !ok {
			continue
		}
		if domain == e.BaseDomain {
			return c, "", true
		}
		if sub, ok := strings.CutSuffix(domain, "."+e.BaseDomain); ok {
			return c, sub, true
		}
	}
	return "", "", false
}
