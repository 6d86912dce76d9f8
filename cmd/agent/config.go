package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

// Config is the agent command's configuration, from the environment
// (EDGEWAY_*) with flag overrides.
type Config struct {
	// Command is http, tcp or start.
	Command string
	// Tunnels to start.
	Tunnels []agent.Tunnel
	// Proto is http or tcp; Local is the local service "host:port" (http
	// and tcp commands).
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
	// ConfigPath is the YAML configuration file (see agent.File).
	ConfigPath string
	// DisableRemoteManagement comes from remote_management: false.
	DisableRemoteManagement bool
	// Status is the status view: statusFull, statusPlain or statusAuto.
	Status string
	// AuthtokenFrom and RegionFrom say where the authtoken and the region
	// came from (a flag, a variable or the config file), for the status view.
	AuthtokenFrom, RegionFrom string
	// regionReason, when set, says why Region was changed from auto.
	regionReason string

	problems []error
}

const usage = `Usage:
  agent http PORT|HOST:PORT [--domain NAME] [--region CODE|auto] [flags]
  agent tcp PORT|HOST:PORT [--remote-addr HOST:PORT] [--region CODE|auto] [flags]
  agent start [NAME...|--all] [flags]     tunnels from the config file
  agent config add-authtoken TOKEN [--config FILE]
  agent version

Settings come from flags, then EDGEWAY_* variables, then the config file
(default ~/.config/edgeway/agent.yml; see --config).

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
	c := &Config{ConfigPath: configPath(args, getenv)}
	problem := func(format string, args ...any) { c.problems = append(c.problems, fmt.Errorf(format, args...)) }
	file, err := agent.LoadFile(c.ConfigPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		problem("%v", err)
		file = &agent.File{}
	}
	fileEdges := make([]string, 0, len(file.Edges))
	for code, addr := range file.Edges {
		fileEdges = append(fileEdges, code+"="+addr)
	}
	env := func(name, fileValue, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		if fileValue != "" {
			return fileValue
		}
		return def
	}
	var edges, logLevel string
	var all bool
	fs.StringVar(&c.ConfigPath, "config", c.ConfigPath, "YAML config file [EDGEWAY_CONFIG]")
	fs.StringVar(&c.Authtoken, "authtoken", env("EDGEWAY_AUTHTOKEN", file.Authtoken, ""), "authtoken from the dashboard [EDGEWAY_AUTHTOKEN]")
	fs.StringVar(&c.Region, "region", env("EDGEWAY_REGION", file.Region, region.Auto), "region code or auto [EDGEWAY_REGION]")
	fs.StringVar(&c.ServerAddr, "server-addr", env("EDGEWAY_SERVER_ADDR", file.ServerAddr, ""), "edge agent address HOST:PORT, overriding the region's [EDGEWAY_SERVER_ADDR]")
	fs.StringVar(&edges, "edges", env("EDGEWAY_EDGES", strings.Join(fileEdges, ","), ""), "edge addresses per region, us=HOST:PORT,eu=HOST:PORT (default: the local stack's 127.0.0.1:9002, 9012 ... 9062) [EDGEWAY_EDGES]")
	fs.StringVar(&c.CAFile, "ca", env("EDGEWAY_CA", file.CA, ""), "PEM file of the CA that signs the edge certificates (default: system roots) [EDGEWAY_CA]")
	plain := env("EDGEWAY_PLAINTEXT", strconv.FormatBool(file.Plaintext), "")
	fs.BoolVar(&c.Plaintext, "plaintext", plain == "1" || plain == "true", "connect to the edge without TLS (development edges without a certificate) [EDGEWAY_PLAINTEXT]")
	fs.BoolVar(&all, "all", false, "start: every tunnel of the config file")
	c.Metadata = file.Metadata
	c.DisableRemoteManagement = file.RemoteManagement != nil && !*file.RemoteManagement
	fs.StringVar(&c.Domain, "domain", "", "http: subdomain label or full domain to serve (default: random)")
	fs.StringVar(&c.RemoteAddr, "remote-addr", "", "tcp: public address HOST:PORT or :PORT to bind (default: any)")
	fs.BoolVar(&c.Pooling, "pooling", false, "share the endpoint with other agents that also pool (load-balanced)")
	fs.StringVar(&c.Metadata, "metadata", c.Metadata, "free-form text attached to the session")
	fs.StringVar(&logLevel, "log-level", env("EDGEWAY_LOG_LEVEL", "", "warn"), "debug, info, warn or error [EDGEWAY_LOG_LEVEL]")
	fs.StringVar(&c.Status, "status", env("EDGEWAY_STATUS", "", statusAuto),
		"status view: full (redrawn in place, logs shown in it when stderr is the terminal), plain (log-style lines), or auto: full when stdout is a terminal [EDGEWAY_STATUS]")

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
	c.Command = pos[0]
	// from names where a setting came from: its flag, its variable or the config file.
	from := func(flagName, envName, fileValue string) string {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == flagName })
		switch {
		case set:
			return "--" + flagName
		case getenv(envName) != "":
			return envName
		case fileValue != "":
			return c.ConfigPath
		}
		return ""
	}
	c.AuthtokenFrom = from("authtoken", "EDGEWAY_AUTHTOKEN", file.Authtoken)
	c.RegionFrom = from("region", "EDGEWAY_REGION", file.Region)
	switch c.Command {
	case proto.ProtoHTTP, proto.ProtoTCP:
		c.Proto = c.Command
		if len(pos) != 2 {
			problem("%s: want exactly one local port or address, got %d arguments", c.Proto, len(pos)-1)
		} else if local, err := agent.LocalAddr(pos[1]); err != nil {
			problem("%s: %v", c.Proto, err)
		} else {
			c.Local = local
			c.Tunnels = []agent.Tunnel{{Proto: c.Proto, LocalAddr: local}}
		}
	case "start":
		names := pos[1:]
		if all || len(names) == 0 {
			names = file.TunnelNames()
		}
		if len(names) == 0 {
			problem("start: the config file %s defines no tunnels", c.ConfigPath)
		}
		for _, n := range names {
			t, err := file.Tunnel(n)
			if err != nil {
				problem("start: %v", err)
				continue
			}
			c.Tunnels = append(c.Tunnels, t)
		}
	default:
		fs.Usage()
		return nil, fmt.Errorf("unknown command %q: want http, tcp, start, config or version", c.Command)
	}
	if c.Region != region.Auto {
		code, err := region.Parse(c.Region)
		if err != nil {
			problem("region: %v (or auto)", err)
		}
		c.Region = string(code)
	}
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
	if c.Command == "start" && (c.Domain != "" || c.RemoteAddr != "" || c.Pooling) {
		problem("start: --domain, --remote-addr and --pooling are set per tunnel in the config file")
	}
	if len(c.Tunnels) == 1 && c.Command != "start" {
		c.Tunnels[0].Domain, c.Tunnels[0].RemoteAddr, c.Tunnels[0].Pooling = c.Domain, c.RemoteAddr, c.Pooling
	}
	switch c.Status {
	case statusAuto, statusFull, statusPlain:
	default:
		problem("status %q: want auto, full or plain", c.Status)
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

// configPath finds --config in args before flags are parsed (the file
// supplies the other flags' defaults), falling back to EDGEWAY_CONFIG and
// the default location.
func configPath(args []string, getenv func(string) string) string {
	for i, a := range args {
		for _, name := range []string{"-config", "--config"} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return agent.DefaultConfigPath(getenv)
}
