package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

// Config is the agent command's configuration, from the environment
// (EDGEWAY_*) with flag overrides.
type Config struct {
	// Proto is http or tcp; Local is the local service "host:port".
	Proto, Local string
	Authtoken    string
	// Region is a region code or "auto".
	Region string
	// ServerAddr overrides the edge address (local development).
	ServerAddr string
	// Edges maps regions to edge addresses for --region and auto.
	Edges      map[region.Code]string
	CAFile     string
	Plaintext  bool
	Domain     string
	RemoteAddr string
	Pooling    bool
	Metadata   string
	LogLevel   slog.Level

	problems []error
}

const usage = `Usage:
  agent http PORT|HOST:PORT [--domain NAME] [--region CODE|auto] [flags]
  agent tcp PORT|HOST:PORT [--remote-addr HOST:PORT] [--region CODE|auto] [flags]
  agent version

Exposes a local service through an Edgeway edge. Regions: %s, or auto
(default: the edge with the lowest measured latency).

Flags (environment variable in brackets):
`

// parseArgs parses "http|tcp LOCAL [flags]"; flags may come before or
// after the positional arguments.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	codes := make([]string, 0, 7)
	for _, c := range region.Codes() {
		codes = append(codes, string(c))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, strings.Join(codes, ", "))
		fs.PrintDefaults()
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := &Config{}
	var edges, logLevel string
	fs.StringVar(&c.Authtoken, "authtoken", env("EDGEWAY_AUTHTOKEN", ""), "authtoken from the dashboard [EDGEWAY_AUTHTOKEN]")
	fs.StringVar(&c.Region, "region", env("EDGEWAY_REGION", region.Auto), "region code or auto [EDGEWAY_REGION]")
	fs.StringVar(&c.ServerAddr, "server-addr", env("EDGEWAY_SERVER_ADDR", ""), "edge agent address HOST:PORT, overriding the region's [EDGEWAY_SERVER_ADDR]")
	fs.StringVar(&edges, "edges", env("EDGEWAY_EDGES", ""), "edge addresses per region, us=HOST:PORT,eu=HOST:PORT (default: the local stack's 127.0.0.1:4443-4449) [EDGEWAY_EDGES]")
	fs.StringVar(&c.CAFile, "ca", env("EDGEWAY_CA", ""), "PEM file of the CA that signs the edge certificates (default: system roots) [EDGEWAY_CA]")
	plain := env("EDGEWAY_PLAINTEXT", "")
	fs.BoolVar(&c.Plaintext, "plaintext", plain == "1" || plain == "true", "connect to the edge without TLS (development edges without a certificate) [EDGEWAY_PLAINTEXT]")
	fs.StringVar(&c.Domain, "domain", "", "http: subdomain label or full domain to serve (default: random)")
	fs.StringVar(&c.RemoteAddr, "remote-addr", "", "tcp: public address HOST:PORT or :PORT to bind (default: any)")
	fs.BoolVar(&c.Pooling, "pooling", false, "share the endpoint with other agents that also pool (load-balanced)")
	fs.StringVar(&c.Metadata, "metadata", "", "free-form text attached to the session")
	fs.StringVar(&logLevel, "log-level", env("EDGEWAY_LOG_LEVEL", "warn"), "debug, info, warn or error [EDGEWAY_LOG_LEVEL]")

	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) == 0 {
		fs.Usage()
		return nil, errors.New("missing command: http or tcp")
	}
	problem := func(format string, args ...any) { c.problems = append(c.problems, fmt.Errorf(format, args...)) }
	c.Proto = pos[0]
	switch c.Proto {
	case proto.ProtoHTTP, proto.ProtoTCP:
	default:
		fs.Usage()
		return nil, fmt.Errorf("unknown command %q: want http, tcp or version", c.Proto)
	}
	if len(pos) != 2 {
		problem("%s: want exactly one local port or address, got %d arguments", c.Proto, len(pos)-1)
	} else if local, err := localAddr(pos[1]); err != nil {
		problem("%s: %v", c.Proto, err)
	} else {
		c.Local = local
	}
	if c.Region != region.Auto {
		code, err := region.Parse(c.Region)
		if err != nil {
			problem("region: %v (or auto)", err)
		}
		c.Region = string(code)
	}
	var err error
	c.Edges = agent.DefaultEdges()
	if edges != "" {
		if c.Edges, err = agent.ParseEdges(edges); err != nil {
			problem("edges: %v", err)
		}
	}
	if c.Proto == proto.ProtoTCP && c.Domain != "" {
		problem("--domain applies to http tunnels; tcp tunnels take --remote-addr")
	}
	if c.Proto == proto.ProtoHTTP && c.RemoteAddr != "" {
		problem("--remote-addr applies to tcp tunnels; http tunnels take --domain")
	}
	if err := c.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		problem("log level %q: want debug, info, warn or error", logLevel)
	}
	return c, nil
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.problems...)
	if c.Authtoken == "" {
		errs = append(errs, errors.New("no authtoken: pass --authtoken or set EDGEWAY_AUTHTOKEN (create one in the dashboard)"))
	}
	if c.Plaintext && c.CAFile != "" {
		errs = append(errs, errors.New("--plaintext and --ca exclude each other"))
	}
	return errors.Join(errs...)
}

// localAddr turns "8080", "host:8080" or "http://host:8080" into host:port.
func localAddr(s string) (string, error) {
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
