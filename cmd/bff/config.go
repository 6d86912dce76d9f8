package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/bff/reservations"
)

// Config is the bff's configuration: environment variables, overridden by flags.
type Config struct {
	DatabaseURL    string
	HTTPAddr       string
	APIAddr        string
	PublicURL      string
	APIURL         string
	CookieSecure   bool
	TrustedProxies []netip.Prefix
	BodyLimit      int64
	LogLevel       slog.Level
	LogFormat      string
	SMTPAddr       string
	SMTPFrom       string
	ControlAddr    string
	Edges          string
	Regions        reservations.Regions // Edges, parsed
	EdgeToken      string
	ControlCert    string
	ControlKey     string
	StaleGrace     time.Duration
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// loadConfig reads the environment, then the flags of the serve command.
func loadConfig(args []string) (Config, error) {
	var c Config
	var errs []error
	var proxies, level, secure, limit string
	fs := flag.NewFlagSet("bff serve", flag.ContinueOnError)
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", env("EDGEWAY_DATABASE_URL", "")), "PostgreSQL URL (env DATABASE_URL)")
	fs.StringVar(&c.HTTPAddr, "http-addr", env("EDGEWAY_HTTP_ADDR", "127.0.0.1:8080"), "dashboard listen address (env EDGEWAY_HTTP_ADDR)")
	fs.StringVar(&c.APIAddr, "api-addr", env("EDGEWAY_API_ADDR", "127.0.0.1:8081"), "API listen address (env EDGEWAY_API_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", env("EDGEWAY_PUBLIC_URL", ""), "dashboard public URL (env EDGEWAY_PUBLIC_URL; default http://HTTP_ADDR)")
	fs.StringVar(&c.APIURL, "api-url", env("EDGEWAY_API_URL", ""), "API public base URL (env EDGEWAY_API_URL; default http://API_ADDR)")
	fs.StringVar(&secure, "cookie-secure", env("EDGEWAY_COOKIE_SECURE", ""), "mark cookies Secure: true|false (env EDGEWAY_COOKIE_SECURE; default: true when PUBLIC_URL is https)")
	fs.StringVar(&proxies, "trusted-proxies", env("EDGEWAY_TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-For is trusted (env EDGEWAY_TRUSTED_PROXIES)")
	fs.StringVar(&limit, "body-limit", env("EDGEWAY_BODY_LIMIT", "1048576"), "maximum request body in bytes (env EDGEWAY_BODY_LIMIT)")
	fs.StringVar(&level, "log-level", env("EDGEWAY_LOG_LEVEL", "info"), "debug|info|warn|error (env EDGEWAY_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("EDGEWAY_LOG_FORMAT", "text"), "text|json (env EDGEWAY_LOG_FORMAT)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", env("EDGEWAY_SMTP_ADDR", ""), "SMTP server host:port for outgoing mail (env EDGEWAY_SMTP_ADDR)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", env("EDGEWAY_SMTP_FROM", "Edgeway <no-reply@edgeway.local>"), "From address (env EDGEWAY_SMTP_FROM)")
	fs.StringVar(&c.ControlAddr, "control-addr", env("EDGEWAY_CONTROL_ADDR", "127.0.0.1:8082"), "edge control channel listen address (env EDGEWAY_CONTROL_ADDR)")
	fs.StringVar(&c.Edges, "edges", env("EDGEWAY_EDGES", ""), "JSON list of the regional edges: [{region, http_addr, https_addr, agent_addr, ops_addr, tcp_ports, base_domain}] (env EDGEWAY_EDGES)")
	fs.StringVar(&c.EdgeToken, "edge-token", env("EDGEWAY_EDGE_TOKEN", ""), "shared secret edges present on the control channel (env EDGEWAY_EDGE_TOKEN)")
	fs.StringVar(&c.ControlCert, "control-tls-cert", env("EDGEWAY_CONTROL_TLS_CERT", ""), "PEM certificate for the control channel; empty: plain TCP, loopback only (env EDGEWAY_CONTROL_TLS_CERT)")
	fs.StringVar(&c.ControlKey, "control-tls-key", env("EDGEWAY_CONTROL_TLS_KEY", ""), "PEM key for -control-tls-cert (env EDGEWAY_CONTROL_TLS_KEY)")
	var grace string
	fs.StringVar(&grace, "stale-grace", env("EDGEWAY_STALE_GRACE", "2m"), "how long sessions of an edge that lost the control channel are kept before removal (env EDGEWAY_STALE_GRACE)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if d, err := time.ParseDuration(grace); err != nil || d < time.Second {
		errs = append(errs, fmt.Errorf("stale-grace: %q must be a duration of at least 1s, such as 2m", grace))
	} else {
		c.StaleGrace = d
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	}
	if c.APIURL == "" {
		c.APIURL = "http://" + c.APIAddr
	}
	if secure == "" {
		c.CookieSecure = strings.HasPrefix(c.PublicURL, "https://")
	} else if b, err := strconv.ParseBool(secure); err != nil {
		errs = append(errs, fmt.Errorf("cookie-secure: %q is not true or false", secure))
	} else {
		c.CookieSecure = b
	}
	for _, p := range strings.Split(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			if a, err := netip.ParseAddr(p); err == nil {
				p = netip.PrefixFrom(a, a.BitLen()).String()
			}
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if n, err := strconv.ParseInt(limit, 10, 64); err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("body-limit: %q must be a number of bytes, at least 1024", limit))
	} else {
		c.BodyLimit = n
	}
	if regions, err := reservations.ParseRegions(c.Edges); err != nil {
		errs = append(errs, err)
	} else {
		c.Regions = regions
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %q is not debug, info, warn or error", level))
	}
	return c, errors.Join(append(errs, c.Validate())...)
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database-url: set DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/edgeway)"))
	}
	for name, addr := range map[string]string{"http-addr": c.HTTPAddr, "api-addr": c.APIAddr, "control-addr": c.ControlAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", name, addr))
		}
	}
	for name, u := range map[string]string{"public-url": c.PublicURL, "api-url": c.APIURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, u))
		}
	}
	if c.EdgeToken == "" {
		errs = append(errs, errors.New("edge-token: set EDGEWAY_EDGE_TOKEN to a long random secret, the same for the bff and every edge"))
	}
	if (c.ControlCert == "") != (c.ControlKey == "") {
		errs = append(errs, errors.New("control-tls-cert and control-tls-key go together"))
	}
	if c.ControlCert == "" {
		if host, _, err := net.SplitHostPort(c.ControlAddr); err == nil {
			if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
				errs = append(errs, fmt.Errorf("control-addr: %q is not loopback, so the control channel needs TLS (-control-tls-cert, -control-tls-key)", c.ControlAddr))
			}
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format: %q is not text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}
