package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerOptions configures Listen. Zero timeouts take the defaults shown.
type ServerOptions struct {
	API, Admin http.Handler
	// Webhook, when set with WebhookListen, serves Optimizely's datafile
	// webhooks on a listener of its own, as Agent does (NewWebhook).
	Webhook http.Handler
	// Listen, AdminListen and WebhookListen are host:port addresses;
	// AdminListen and WebhookListen may be empty to serve no such
	// listener.
	Listen, AdminListen, WebhookListen string
	// CertFile and KeyFile, when set, serve both listeners over TLS.
	CertFile, KeyFile string
	// ReadHeaderTimeout (5s), ReadTimeout (10s), WriteTimeout (10s) and
	// IdleTimeout (2m) bound slow or idle clients.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (64 KiB).
	MaxHeaderBytes int
	Log            *slog.Logger
}

// Server runs the API and admin listeners.
type Server struct {
	servers   []*http.Server
	listeners []net.Listener
	errs      chan error
	wg        sync.WaitGroup
	log       *slog.Logger
}

// Listen binds the listeners, so the service can say it is ready only
// once it can be reached, and starts serving them.
func Listen(opts ServerOptions) (*Server, error) {
	if opts.API == nil || opts.Listen == "" {
		return nil, errors.New("server: listen: an API handler and address are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.ReadHeaderTimeout, 5*time.Second)
	def(&opts.ReadTimeout, 10*time.Second)
	def(&opts.WriteTimeout, 10*time.Second)
	def(&opts.IdleTimeout, 2*time.Minute)
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 64 << 10
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	var tlsConfig *tls.Config
	if opts.CertFile != "" || opts.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: TLS certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s := &Server{errs: make(chan error, 3), log: opts.Log}
	bind := func(name, addr string, h http.Handler) error {
		raw, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("server: %s listener on %s: %w", name, addr, err)
		}
		// Under TLS too: net/http writes its plain-text answer to a
		// plaintext request on the TLS port to the connection under TLS.
		var l net.Listener = jsonListener{raw}
		if tlsConfig != nil {
			l = tls.NewListener(l, tlsConfig)
		}
		hs := &http.Server{
			Handler:           canonicalPaths(h),
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			ReadTimeout:       opts.ReadTimeout,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    opts.MaxHeaderBytes,
			ErrorLog:          log.New(newThrottledLog(opts.Log, time.Minute), "", 0),
		}
		s.servers = append(s.servers, hs)
		s.listeners = append(s.listeners, l)
		return nil
	}
	if err := bind("API", opts.Listen, opts.API); err != nil {
		return nil, err
	}
	if opts.AdminListen != "" && opts.Admin != nil {
		if err := bind("admin", opts.AdminListen, opts.Admin); err != nil {
			s.listeners[0].Close()
			return nil, err
		}
	}
	if opts.WebhookListen != "" && opts.Webhook != nil {
		if err := bind("webhook", opts.WebhookListen, opts.Webhook); err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return nil, err
		}
	}
	for i, hs := range s.servers {
		l := s.listeners[i]
		s.wg.Go(func() {
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errs <- fmt.Errorf("server: serve %s: %w", l.Addr(), err)
			}
		})
	}
	return s, nil
}

// Addrs returns the bound addresses: the API's, then the admin's and the
// webhook's, each if any.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Err delivers an error if a listener stops serving on its own.
func (s *Server) Err() <-chan error { return s.errs }

// Close stops accepting connections, lets the requests in flight finish
// until ctx ends, then closes what is left and says how many listeners did
// not shut down in time.
func (s *Server) Close(ctx context.Context) error {
	var errs []error
	for _, hs := range s.servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = hs.Close()
		}
	}
	s.wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("server: %d of %d listeners closed with requests still in flight: %w", len(errs), len(s.servers), errors.Join(errs...))
	}
	return nil
}

// CheckExposure refuses to serve addr without tokens unless addr is a
// loopback address or the operator allowed it explicitly: an open
// decision service lets anyone read and rewrite every user's assignments.
func CheckExposure(addr string, tokens Tokens, allowOpen bool) error {
	if !tokens.Empty() || allowOpen {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen address %s is not a loopback address and no token is configured: set tokens or JWTs (server.auth, server.admin_auth), or allow unauthenticated access explicitly", addr)
}
