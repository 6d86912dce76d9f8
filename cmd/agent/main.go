// Command agent exposes a local service through an Edgeway edge:
// `agent http 8080` or `agent tcp 22`. It picks a region (the closest by
// default), prints its forwarding lines, reconnects with backoff, and
// obeys remote stop (exit 0) and restart (re-executes itself).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/agent"
	"github.com/edgeway/edgeway/internal/proto"
	"github.com/edgeway/edgeway/internal/region"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if code == exitRestart {
		restart()
		code = 1
	}
	os.Exit(code)
}

// exitRestart asks main to re-execute the agent.
const exitRestart = -1

// restart replaces the process with a fresh copy of itself, which
// connects with a new session.
func restart() {
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "agent: restart failed: %v\n", err)
}

// run runs the agent command and returns the exit code (or exitRestart).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(stdout, "edgeway agent %s (protocol %d)\n", agent.Version, proto.Version)
		return 0
	}
	if len(args) > 0 && args[0] == "config" {
		return configCommand(args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseArgs(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "agent: invalid configuration:")
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			fmt.Fprintf(stderr, "  - %v\n", e)
		}
		return 2
	}
	fd, isTerm := terminalFD(stdout)
	full := cfg.Status == statusFull || (cfg.Status == statusAuto && isTerm && getenv("TERM") != "dumb")
	ui := newStatusUI(stdout, full, fd)
	ui.setAuthtoken(cfg.Authtoken, cfg.AuthtokenFrom)
	logOpts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var logOut io.Writer = stderr
	if _, errIsTerm := terminalFD(stderr); full && errIsTerm {
		// stderr is the screen the view is drawn on: its last lines show in the view.
		logOut = ui.logWriter(stderr)
		logOpts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.String(a.Key, a.Value.Time().Format(time.TimeOnly))
			}
			return a
		}
	}
	log := slog.New(slog.NewTextHandler(logOut, logOpts))

	var tlsConfig *tls.Config
	if !cfg.Plaintext {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				fmt.Fprintf(stderr, "agent: read CA file: %v\n", err)
				return 2
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				fmt.Fprintf(stderr, "agent: %s holds no PEM certificate\n", cfg.CAFile)
				return 2
			}
			tlsConfig.RootCAs = pool
		}
	}

	ui.start()
	err = runAgent(ctx, cfg, tlsConfig, log, ui)
	ui.close()
	var rc *agent.RemoteCommand
	switch {
	case err == nil:
		ui.line("Session Status", "stopped")
		return 0
	case errors.As(err, &rc) && rc.Kind == "stop":
		ui.line("Session Status", "stopped remotely"+reasonSuffix(rc.Reason))
		return 0
	case errors.As(err, &rc) && rc.Kind == "restart":
		ui.line("Session Status", "restarting on request"+reasonSuffix(rc.Reason))
		return exitRestart
	default:
		fmt.Fprintf(stderr, "agent: %s\n", describe(err))
		return 1
	}
}

// describe puts a refusal's code and message first ("ERR_SESSION_LIMIT:
// plan limit reached: ... (authenticate with edge HOST:PORT)"): what to do
// about it matters more than the step that met it.
func describe(err error) string {
	var pe *proto.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	step, ok := strings.CutSuffix(err.Error(), ": "+pe.Error())
	if !ok || step == "" {
		return err.Error()
	}
	return pe.Error() + " (" + step + ")"
}

// runAgent runs the agent; in region auto, a name reserved in another
// region sends it there once, saying so.
func runAgent(ctx context.Context, cfg *Config, tlsConfig *tls.Config, log *slog.Logger, ui *statusUI) error {
	for redirected := false; ; redirected = true {
		err := agent.Run(ctx, agent.Config{
			Resolve: func(ctx context.Context) (string, error) {
				return chooseEdge(ctx, cfg, tlsConfig, log, ui)
			},
			TLS:                     tlsConfig,
			Authtoken:               cfg.Authtoken,
			Tunnels:                 cfg.Tunnels,
			DisableRemoteManagement: cfg.DisableRemoteManagement,
			Metadata:                cfg.Metadata,
			Log:                     log,
			OnEvent:                 ui.event,
		})
		var pe *proto.Error
		if redirected || cfg.Region != region.Auto || cfg.ServerAddr != "" || !errors.As(err, &pe) ||
			(pe.Code != proto.CodeDomainOtherRegion && pe.Code != proto.CodeAddrOtherRegion) {
			return err
		}
		code, perr := region.Parse(pe.Details["region"])
		if _, known := cfg.Edges[code]; perr != nil || !known {
			return err
		}
		ui.line("Region", fmt.Sprintf("%s (%s), where the tunnel's name is reserved: %s", code, code.Name(), pe.Msg))
		cfg.Region = string(code)
		cfg.regionReason = "where the tunnel's name is reserved"
	}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// chooseEdge returns the edge address to use: --server-addr, the region's
// edge, or with region auto the reachable edge with the lowest latency.
func chooseEdge(ctx context.Context, cfg *Config, tlsConfig *tls.Config, log *slog.Logger, ui *statusUI) (string, error) {
	if cfg.ServerAddr != "" {
		ui.regionChosen("", "fixed edge address "+cfg.ServerAddr, nil)
		return cfg.ServerAddr, nil
	}
	if cfg.Region != region.Auto {
		addr, ok := cfg.Edges[region.Code(cfg.Region)]
		if !ok {
			return "", fmt.Errorf("no edge address known for region %s; set --edges or --server-addr", cfg.Region)
		}
		how := cfg.regionReason
		if how == "" {
			how = "fixed"
			if cfg.RegionFrom != "" {
				how += " by " + cfg.RegionFrom
			}
		}
		ui.regionChosen(region.Code(cfg.Region), how, nil)
		return addr, nil
	}
	ui.regionChosen("", fmt.Sprintf("auto, measuring the latency to %d regions", len(cfg.Edges)), nil)
	results := agent.Probe(ctx, cfg.Edges, tlsConfig, 3*time.Second, log)
	best, err := agent.Closest(results)
	if err != nil {
		ui.regionChosen("", "auto, no region reachable", results)
		return "", err
	}
	ui.regionChosen(best.Region, "auto, the lowest latency", results)
	ui.line("Region", fmt.Sprintf("auto: %s (%s), the lowest latency of %d regions (%s); measured: %s",
		best.Region, best.Region.Name(), reachable(results), fmtLatency(best.Latency), fmtProbes(results)))
	return best.Addr, nil
}

func reachable(rs []agent.ProbeResult) int {
	n := 0
	for _, r := range rs {
		if r.Err == nil {
			n++
		}
	}
	return n
}

// configCommand runs "agent config add-authtoken TOKEN [--config FILE]".
func configCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", agent.DefaultConfigPath(getenv), "YAML config file [EDGEWAY_CONFIG]")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 || pos[0] != "add-authtoken" || pos[1] == "" {
		fmt.Fprintln(stderr, "Usage: agent config add-authtoken TOKEN [--config FILE]")
		return 2
	}
	if err := agent.SetAuthtoken(*path, pos[1]); err != nil {
		fmt.Fprintf(stderr, "agent: save authtoken: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Authtoken saved to %s\n", *path)
	return 0
}
