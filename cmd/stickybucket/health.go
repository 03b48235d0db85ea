package main

// stickybucket health: a probe for images without a shell or curl (the
// service image is a static binary on scratch), for Docker's HEALTHCHECK.

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/internal/buildinfo"
)

// healthUsage is health's command line.
const healthUsage = "Usage: stickybucket health [--url URL | --config FILE] [--ready] [--timeout DURATION] [--insecure]"

// defaultHealthAddr is server.admin_listen's default.
const defaultHealthAddr = "127.0.0.1:8088"

// healthBodyBytes bounds how much of an answer is read and printed.
const healthBodyBytes = 512

// runHealth is `stickybucket health`: GET the admin listener's /health (or
// /ready with --ready) and exit 0 on a 200 within the timeout, 1 otherwise.
// The address comes from --url, else from the configuration --config names
// (server.admin_listen, or server.listen when the admin listener is off;
// STICKYBUCKET_* variables apply as for serve), else from
// STICKYBUCKET_ADMIN_LISTEN, else 127.0.0.1:8088.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "the listener's base `URL` (http://HOST:PORT), or a full URL to GET as is")
	configFile := fs.String("config", "", "read the address from this configuration `file`, as serve does")
	ready := fs.Bool("ready", false, "GET /ready (datafiles loaded, store answering) instead of /health (alive)")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this `duration`")
	insecure := fs.Bool("insecure", false, "do not verify the listener's TLS certificate (a self-signed one on loopback)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, healthUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || (*rawURL != "" && *configFile != "") || *timeout <= 0 {
		fmt.Fprintln(stderr, "stickybucket health: give --url or --config, not both, no arguments, and a positive --timeout")
		fs.Usage()
		return exitUsage
	}
	path := "/health"
	if *ready {
		path = "/ready"
	}
	target, err := healthURL(*rawURL, *configFile, path, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "stickybucket health: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, body, err := probe(ctx, target, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "stickybucket health: %s: %v\n", target, err)
		return exitFail
	}
	if status != http.StatusOK {
		fmt.Fprintf(stderr, "stickybucket health: %s: %d %s\n", target, status, body)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %d %s\n", target, status, body)
	return exitOK
}

// healthURL resolves what to GET: rawURL when given (path appended when it
// has none), else the listener the configuration names.
func healthURL(rawURL, configFile, path string, lookupEnv func(string) (string, bool)) (string, error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return "", fmt.Errorf("--url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("--url %q: want http://HOST:PORT or https://HOST:PORT", rawURL)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = path
		}
		return u.String(), nil
	}
	addr, scheme := defaultHealthAddr, "http"
	if configFile != "" {
		cfg, err := config.Load(configFile, lookupEnv)
		if err != nil {
			return "", fmt.Errorf("reading the listener's address: %w", err)
		}
		addr = cfg.Server.AdminListen
		if addr == config.AdminOff {
			addr = cfg.Server.Listen
		}
		if cfg.Server.TLS.CertFile != "" {
			scheme = "https"
		}
	} else if v, ok := lookupEnv("STICKYBUCKET_ADMIN_LISTEN"); ok && v != "" && v != config.AdminOff {
		addr = v
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listener address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Bound to every address: this machine's loopback reaches it.
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: path}).String(), nil
}

// probe GETs target once, without proxies or redirects, and returns the
// status and the start of the body, on one line.
func probe(ctx context.Context, target string, insecure bool) (int, string, error) {
	transport := &http.Transport{
		Proxy:             nil, // a probe of this machine never goes through a proxy
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // opt-in, for a self-signed certificate on loopback
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, "", fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("User-Agent", "stickybucket-health/"+buildinfo.Version())
	resp, err := client.Do(req)
	if err != nil {
		// The caller names the URL; *url.Error would repeat it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, healthBodyBytes))
	if err != nil {
		return 0, "", fmt.Errorf("reading the answer: %w", err)
	}
	// One line, printable: the answer goes to a terminal or Docker's log.
	line := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	return resp.StatusCode, strings.Join(strings.Fields(line), " "), nil
}
