// Command devstack runs the whole Edgeway platform locally (`make run`): PostgreSQL under
// DATA/pg (unless DATABASE_URL is set), the bff migrated and seeded with a demo account, one edge
// per region and mailpit when installed. It prints the dashboard URL and the login, and stops
// everything on Ctrl-C or SIGTERM.
//
// With -ephemeral every port is picked free and the data lives in a temporary directory that is
// removed at exit; -ready-file then tells a test harness (Playwright) where everything is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgeway/edgeway/internal/devstack"
	"github.com/edgeway/edgeway/internal/region"
)

func main() {
	os.Exit(run())
}

func run() int {
	var regions []string
	for _, c := range region.Codes() {
		regions = append(regions, string(c))
	}
	var (
		cfg        devstack.Config
		regionList string
		verbose    bool
	)
	flag.StringVar(&cfg.DataDir, "data", ".data", "directory for the stack's state (PostgreSQL under DATA/pg, mail, demo login)")
	flag.BoolVar(&cfg.Ephemeral, "ephemeral", false, "use a temporary data dir, free ports and fsync off; remove everything at exit")
	flag.StringVar(&cfg.ReadyFile, "ready-file", "", "write the stack's addresses and login as JSON to `PATH` once everything is healthy")
	flag.StringVar(&cfg.BinDir, "bin", "bin", "directory holding the bff and edge binaries")
	flag.StringVar(&cfg.HTTPAddr, "http-addr", devstack.DefaultHTTPAddr, "dashboard listen address")
	flag.StringVar(&cfg.APIAddr, "api-addr", devstack.DefaultAPIAddr, "API listen address")
	flag.StringVar(&cfg.ControlAddr, "control-addr", devstack.DefaultControlAddr, "bff control-channel address the edges dial")
	flag.IntVar(&cfg.PGPort, "pg-port", devstack.DefaultPGPort, "PostgreSQL port (when DATABASE_URL is not set)")
	flag.StringVar(&cfg.SMTPAddr, "smtp-addr", devstack.DefaultSMTPAddr, "mailpit SMTP listen address")
	flag.StringVar(&cfg.MailUIAddr, "mail-addr", devstack.DefaultMailUIAddr, "mailpit web UI listen address")
	flag.IntVar(&cfg.EdgePort, "edge-port", devstack.DefaultEdgePort, "first edge port: region i listens on PORT+10*i .. +3 (http, https, agent, ops)")
	flag.IntVar(&cfg.EdgeTCPPort, "edge-tcp-port", devstack.DefaultEdgeTCPPort, "first TCP tunnel port: region i gets PORT+100*i .. +99")
	flag.StringVar(&regionList, "regions", strings.Join(regions, ","), "comma-separated regions to start an edge for (empty: none)")
	flag.StringVar(&cfg.Mailpit, "mailpit", "", "mailpit binary (default: .tools/bin/mailpit or PATH; - disables mail)")
	flag.BoolVar(&cfg.PGOnly, "pg-only", false, "start PostgreSQL only (with a command: `devstack -pg-only -- go test ./...`)")
	flag.BoolVar(&verbose, "v", false, "debug logging")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: devstack [flags] [-- command [args...]]

Runs PostgreSQL (unless DATABASE_URL is set), mailpit, the bff and one edge per region, and
stops them all on Ctrl-C or SIGTERM. With a command, runs it once the stack is ready (with
DATABASE_URL, EDGEWAY_TEST_DATABASE_URL and EDGEWAY_READY_FILE set), then stops the stack and
exits with the command's status.

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg.Command = flag.Args()

	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "devstack")
	slog.SetDefault(log)

	cfg.Regions = nil
	for r := range strings.SplitSeq(regionList, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c, err := region.Parse(r)
			if err != nil {
				log.Error("bad -regions", "err", err)
				return 2
			}
			cfg.Regions = append(cfg.Regions, string(c))
		}
	}
	cfg.DatabaseURL = os.Getenv("DATABASE_URL")
	if cfg.Ephemeral {
		// Every port not given explicitly is picked free, so that stacks can run side by side.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		free := map[string]func(){
			"http-addr":     func() { cfg.HTTPAddr = "" },
			"api-addr":      func() { cfg.APIAddr = "" },
			"control-addr":  func() { cfg.ControlAddr = "" },
			"pg-port":       func() { cfg.PGPort = 0 },
			"smtp-addr":     func() { cfg.SMTPAddr = "" },
			"mail-addr":     func() { cfg.MailUIAddr = "" },
			"edge-port":     func() { cfg.EdgePort = 0 },
			"edge-tcp-port": func() { cfg.EdgeTCPPort = 0 },
		}
		for name, clear := range free {
			if !set[name] {
				clear()
			}
		}
	}
	cfg.Out = os.Stdout
	cfg.CommandErr = os.Stderr
	cfg.Log = log

	// The first Ctrl-C or SIGTERM stops the stack in order; a second one kills what is left.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force := make(chan struct{})
	cfg.Force = force
	// SIGUSR1 restarts the bff alone (e.g. after `make build`): kill -USR1 $(pid of devstack).
	restart := make(chan struct{}, 1)
	cfg.RestartBff = restart
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			select {
			case restart <- struct{}{}:
			default:
			}
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		log.Info("signal received; stopping (again to force)", "signal", sig.String())
		cancel()
		<-sigs
		log.Warn("second signal; killing what is left")
		close(force)
	}()

	if err := devstack.Run(ctx, cfg); err != nil {
		var exit *devstack.CommandExitError
		if errors.As(err, &exit) {
			if error(exit) != err { // the stack also failed to stop cleanly
				log.Error("devstack failed", "err", err)
			}
			return exit.Code
		}
		log.Error("devstack failed", "err", err)
		return 1
	}
	return 0
}
