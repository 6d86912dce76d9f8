package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge"
	"github.com/edgeway/edgeway/internal/region"
)

// envPrefix prefixes the environment variable of every flag: -http-addr
// is EDGEWAY_EDGE_HTTP_ADDR. Flags override the environment.
const envPrefix = "EDGEWAY_EDGE_"

// Config is the edge binary's configuration: the edge server's settings
// plus process concerns.
type Config struct {
	Edge edge.Config
	// DevAuthtokens are accepted without the bff (development and tests).
	DevAuthtokens []string
	// Token is the shared edge secret for the bff control channel
	// (-bff-token, EDGEWAY_EDGE_BFF_TOKEN); empty disables the channel.
	Token string
	// BFFCAFile is a PEM CA for the bff's TLS certificate; empty means a
	// plain connection (development).
	BFFCAFile string
	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level
	// LogFormat is text or json.
	LogFormat string

	problems []error // parse problems, reported by Validate
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	errs := append([]error(nil), c.problems...)
	if err := c.Edge.Validate(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	if c.Token != "" && len(c.DevAuthtokens) > 0 {
		errs = append(errs, errors.New("-bff-token (authtokens checked by the bff) and -dev-authtoken exclude each other"))
	}
	if c.Token != "" && c.Edge.BFFAddr == "" {
		errs = append(errs, errors.New("-bff-token needs -bff-addr"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	return errors.Join(dedupe(errs)...)
}

// loadConfig reads the configuration from the environment, then args.
// It fails only on malformed flags (flag.ErrHelp included); value problems
// are left for Validate so all of them are reported together.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edge [flags]\n\nRuns one regional Edgeway edge server. Every flag can also be set as %sNAME\n(for example -http-addr as %sHTTP_ADDR); flags win.\n\nFlags:\n", envPrefix, envPrefix)
		fs.PrintDefaults()
	}
	str := func(name, def, usage string) *string {
		if v := getenv(envName(name)); v != "" {
			def = v
		}
		return fs.String(name, def, usage)
	}
	codes := make([]string, 0, 7)
	for _, r := range region.All() {
		codes = append(codes, string(r.Code))
	}
	var (
		regionFlag   = str("region", "us", "region this edge serves: "+strings.Join(codes, ", "))
		httpAddr     = str("http-addr", "127.0.0.1:8000", "public HTTP listener")
		httpsAddr    = str("https-addr", "", "public HTTPS listener (empty: off; self-signed certificate unless -tls-cert)")
		agentAddr    = str("agent-addr", "127.0.0.1:4443", "agent listener (TLS with -tls-cert, plain TCP otherwise)")
		opsAddr      = str("ops-addr", "127.0.0.1:9100", "ops listener serving /healthz and /metrics")
		tcpPorts     = str("tcp-ports", "20000-20099", "TCP endpoint port range FIRST-LAST (empty: no TCP tunnels)")
		tcpHost      = str("tcp-host", "", "IP TCP endpoints listen on (default: the host of -http-addr)")
		publicHost   = str("public-host", "", "host name in TCP public URLs (default: -base-domain)")
		baseDomain   = str("base-domain", "", "parent domain of tunnel hostnames (default: REGION.localhost)")
		bffAddr      = str("bff-addr", "127.0.0.1:8082", "bff control-channel address (used with -bff-token)")
		tlsCert      = str("tls-cert", "", "PEM certificate file for the agent and HTTPS listeners")
		tlsKey       = str("tls-key", "", "PEM key file for -tls-cert")
		devTokens    = str("dev-authtoken", "", "comma-separated authtokens accepted without the bff (development only)")
		token        = str("bff-token", "", "shared edge secret for the bff control channel at -bff-addr, the bff's EDGEWAY_EDGE_TOKEN (empty: no control channel)")
		bffCA        = str("bff-ca", "", "PEM CA file for the bff's TLS certificate (empty: plain TCP to the bff, development only)")
		drainTimeout = str("drain-timeout", "10s", "how long SIGTERM waits for in-flight traffic")
		logLevel     = str("log-level", "info", "debug, info, warn or error")
		logFormat    = str("log-format", "text", "text or json")
	)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c := &Config{LogFormat: *logFormat, Token: *token, BFFCAFile: *bffCA}
	problem := func(format string, args ...any) { c.problems = append(c.problems, fmt.Errorf(format, args...)) }

	code, err := region.Parse(*regionFlag)
	if err != nil {
		problem("region: %v", err)
		code = region.Code(*regionFlag)
	}
	ports, err := edge.ParsePortRange(*tcpPorts)
	if err != nil {
		problem("tcp ports: %v", err)
	}
	drain, err := time.ParseDuration(*drainTimeout)
	if err != nil || drain < 0 {
		problem("drain timeout %q: want a positive duration such as 10s", *drainTimeout)
	}
	if err := c.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		problem("log level %q: want debug, info, warn or error", *logLevel)
	}
	for _, t := range strings.Split(*devTokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.DevAuthtokens = append(c.DevAuthtokens, t)
		}
	}
	c.Edge = edge.Config{
		Region:       code,
		BaseDomain:   *baseDomain,
		HTTPAddr:     *httpAddr,
		HTTPSAddr:    *httpsAddr,
		AgentAddr:    *agentAddr,
		OpsAddr:      *opsAddr,
		TCPPorts:     ports,
		TCPHost:      *tcpHost,
		PublicHost:   *publicHost,
		BFFAddr:      *bffAddr,
		TLSCertFile:  *tlsCert,
		TLSKeyFile:   *tlsKey,
		DrainTimeout: drain,
	}.WithDefaults()
	return c, nil
}

// envName returns the environment variable for a flag name.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// dedupe drops repeated messages (an unknown region is reported by both
// the flag parser and edge.Config).
func dedupe(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}
