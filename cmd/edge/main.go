// Command edge runs one regional Edgeway edge server: it accepts agents,
// serves their public HTTP(S) endpoints and TCP addresses, and exposes
// /healthz and /metrics on its ops listener. SIGTERM or SIGINT drains it
// gracefully (exit 0); a bad configuration exits 2, a failure at run time 1.
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
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/edgeway/edgeway/edge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run runs the edge until ctx ends and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "edge: invalid configuration:")
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "  - %v\n", e)
		}
		return 2
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h).With(slog.String("component", "edge"))
	slog.SetDefault(log)

	var auth edge.Authenticator
	if len(cfg.DevAuthtokens) > 0 {
		tokens := edge.StaticTokens{}
		for _, t := range cfg.DevAuthtokens {
			tokens[t] = "ac_dev"
		}
		auth = tokens
		log.Warn("accepting development authtokens without the bff", slog.Int("count", len(tokens)))
	}
	srv, err := edge.New(cfg.Edge, log, auth)
	if err != nil {
		fmt.Fprintf(stderr, "edge: %v\n", err)
		return 2
	}
	var ctl *edge.Control
	if cfg.Token != "" {
		var tlsConfig *tls.Config
		if cfg.BFFCAFile != "" {
			pem, err := os.ReadFile(cfg.BFFCAFile)
			if err != nil {
				fmt.Fprintf(stderr, "edge: read bff CA: %v\n", err)
				return 2
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				fmt.Fprintf(stderr, "edge: %s holds no PEM certificate\n", cfg.BFFCAFile)
				return 2
			}
			host, _, _ := net.SplitHostPort(cfg.Edge.BFFAddr)
			tlsConfig = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
		}
		ctl = edge.NewControl(edge.ControlConfig{Addr: cfg.Edge.BFFAddr, Token: cfg.Token, TLS: tlsConfig}, srv, log)
		srv.UseControl(ctl)
	} else if auth == nil {
		log.Warn("no -bff-token for the bff control channel and no -dev-authtoken: every agent is refused")
	}
	if err := srv.Listen(); err != nil {
		log.Error("edge failed to start", slog.Any("err", err))
		return 1
	}
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	if ctl != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctl.Run(cctx)
		}()
	}
	err = srv.Serve(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		log.Error("edge failed", slog.Any("err", err))
		return 1
	}
	return 0
}
