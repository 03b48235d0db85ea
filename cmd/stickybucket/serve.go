package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/datafiles"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/server"
	"github.com/stickybucket/stickybucket/stack"
)

// defaultServeConfig is the configuration without --config: the in-memory
// store in a development environment.
const defaultServeConfig = `
environment: development
environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
`

// repeated collects a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// serveFlags are serve's command line; every flag overrides the
// configuration.
type serveFlags struct {
	config, listen, adminListen, store string
	datafiles                          repeated
	migrate                            bool
}

func parseServeFlags(args []string, stderr io.Writer) (serveFlags, int, bool) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration `file` (YAML); without it the in-memory store serves")
	fs.StringVar(&f.listen, "listen", "", "API address `host:port` (server.listen; default 127.0.0.1:8080)")
	fs.StringVar(&f.adminListen, "admin-listen", "", "admin address `host:port` for /metrics, /health, /ready and pprof, or off (server.admin_listen; default 127.0.0.1:8088)")
	fs.StringVar(&f.store, "store", "", "profile store: memory or cassandra (store.kind)")
	fs.Var(&f.datafiles, "datafile", "a datafile to serve, `[SDKKEY=]PATH or URL` (repeatable; replaces datafiles in the configuration; without SDKKEY the file's base name is the key)")
	fs.BoolVar(&f.migrate, "migrate", false, "create the Cassandra keyspace and schema first (as `stickybucket migrate`)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stickybucket serve [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT] [--datafile [SDKKEY=]PATH]... [--store memory|cassandra]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, exitOK, false
		}
		return f, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stickybucket serve: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return f, exitUsage, false
	}
	return f, exitOK, true
}

// serveConfig reads the configuration and applies the flags over it.
func serveConfig(f serveFlags) (config.Config, error) {
	var (
		cfg config.Config
		err error
	)
	if f.config != "" {
		cfg, err = config.Load(f.config, os.LookupEnv)
	} else {
		cfg, err = config.Parse([]byte(defaultServeConfig), os.LookupEnv)
	}
	if err != nil {
		return config.Config{}, err
	}
	if f.listen != "" {
		cfg.Server.Listen = f.listen
	}
	if f.adminListen != "" {
		cfg.Server.AdminListen = f.adminListen
	}
	if f.store != "" {
		cfg.Store.Kind = f.store
	}
	if len(f.datafiles) > 0 {
		if cfg.Datafiles, err = config.ParseDatafileSources(f.datafiles); err != nil {
			return config.Config{}, fmt.Errorf("--datafile: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	if len(cfg.Datafiles) == 0 {
		return config.Config{}, errors.New("no datafile to serve: give --datafile [SDKKEY=]PATH, or datafiles in the configuration")
	}
	return cfg, nil
}

// newLogger logs as the configuration says: JSON unless format is text,
// or auto on a terminal.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	text := cfg.Format == "text"
	if f, ok := w.(*os.File); ok && cfg.Format == "auto" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			text = true
		}
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// catalog serves the datafile set to the API.
type catalog struct{ set *datafiles.Set }

func (c catalog) Datafile(sdkKey string) (server.Datafile, error) {
	e, err := c.set.Get(sdkKey)
	switch {
	case errors.Is(err, datafiles.ErrSDKKeyRequired):
		return server.Datafile{}, server.ErrSDKKeyRequired
	case err != nil:
		return server.Datafile{}, fmt.Errorf("%w: %q", server.ErrUnknownSDKKey, sdkKey)
	}
	return server.Datafile{SDKKey: e.SDKKey, Client: e.Client, Raw: e.Raw}, nil
}

// runServe is `stickybucket serve`: the Agent-compatible HTTP service.
// SIGHUP reloads the datafiles; SIGINT and SIGTERM stop accepting, finish
// the requests in flight, drain pending saves and close the store.
func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	f, code, ok := parseServeFlags(args, stderr)
	if !ok {
		return code
	}
	cfg, err := serveConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "stickybucket serve: %v\n", err)
		return exitUsage
	}
	log := newLogger(cfg.Log, stderr)
	if err := serve(ctx, cfg, f.migrate, log); err != nil {
		log.Error("stickybucket serve stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// shutdown closes what serve started, last started first, and collects
// what could not finish.
type shutdown struct {
	steps []func() error
}

func (s *shutdown) add(step func() error) { s.steps = append(s.steps, step) }

func (s *shutdown) run() error {
	var errs []error
	for i := len(s.steps) - 1; i >= 0; i-- {
		if err := s.steps[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.steps = nil
	return errors.Join(errs...)
}

func serve(ctx context.Context, cfg config.Config, migrate bool, log *slog.Logger) (err error) {
	var down shutdown
	defer func() {
		if derr := down.run(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	apiTokens, err := server.NewTokens(cfg.Server.Tokens...)
	if err != nil {
		return fmt.Errorf("server.tokens: %w", err)
	}
	adminTokens, err := server.NewTokens(cfg.Server.AdminTokens...)
	if err != nil {
		return fmt.Errorf("server.admin_tokens: %w", err)
	}
	if err := server.CheckExposure(cfg.Server.Listen, apiTokens, cfg.Server.AllowUnauthenticated); err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	if cfg.Server.AdminListen != config.AdminOff {
		if err := server.CheckExposure(cfg.Server.AdminListen, adminTokens, cfg.Server.AllowUnauthenticated); err != nil {
			return fmt.Errorf("server.admin_listen: %w", err)
		}
	}

	// Signals first, so a SIGTERM during start-up is not lost.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := server.NewMetrics(reg)
	if err != nil {
		return err
	}
	st, err := stack.Open(ctx, cfg, stack.Options{Log: log, Registry: reg, ObserveStore: metrics.ObserveStore, Migrate: migrate})
	if err != nil {
		return err
	}
	down.add(func() error {
		// Pending async saves are drained here, after the listeners
		// stopped taking requests.
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Std())
		defer cancel()
		if err := st.Close(closeCtx); err != nil {
			return fmt.Errorf("profile store closed with work left: %w", err)
		}
		log.Info("profile store closed")
		return nil
	})

	limits := decision.Limits{
		MaxBytes: cfg.DatafileLimits.MaxBytes, MaxKeyBytes: cfg.DatafileLimits.MaxKeyBytes, MaxIDBytes: cfg.DatafileLimits.MaxIDBytes,
		MaxConditionDepth: cfg.DatafileLimits.MaxConditionDepth, MaxFlagsPerExperiment: cfg.DatafileLimits.MaxFlagsPerExperiment,
		MaxProblems: cfg.DatafileLimits.MaxProblems,
	}
	// Sources read at most the parser's bound (plus one byte to notice
	// more), so an oversized datafile is refused without being buffered.
	maxBytes := int64(decision.DefaultLimits().MaxBytes)
	if limits.MaxBytes > 0 {
		maxBytes = int64(limits.MaxBytes)
	}
	sources := map[string]datafiles.Source{}
	poll := time.Duration(0)
	for _, d := range cfg.Datafiles {
		if d.URL != "" {
			sources[d.SDKKey] = datafiles.URL{URL: d.URL, MaxBytes: maxBytes}
			if p := d.PollEvery.Std(); poll == 0 || p < poll {
				poll = p
			}
		} else {
			sources[d.SDKKey] = datafiles.File{Path: d.File, MaxBytes: maxBytes}
		}
	}
	set, err := datafiles.New(datafiles.Options{
		Sources:      sources,
		Parse:        limits.ParseDatafile,
		Build:        func(_ string, df *decision.Datafile) (*decision.Client, error) { return st.NewClient(df) },
		PollInterval: poll,
		Logger:       log,
		// The set logs every load and rejection itself; here they are
		// counted.
		OnLoad: metrics.DatafileLoaded,
	})
	if err != nil {
		return err
	}
	if err := set.Load(ctx); err != nil {
		return err
	}
	if err := set.Start(); err != nil {
		return err
	}
	down.add(func() error {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := set.Close(closeCtx); err != nil {
			return fmt.Errorf("datafile watchers: %w", err)
		}
		return nil
	})

	ready := func(ctx context.Context) error {
		if n, want := len(set.Entries()), len(set.Keys()); n != want {
			return fmt.Errorf("%d of %d datafiles loaded", n, want)
		}
		return st.Ready(ctx)
	}
	sdk, err := st.SDKProfiles()
	if err != nil {
		return err
	}
	api, err := server.NewAPI(server.Options{
		Catalog: catalog{set}, Profiles: st.Profiles, SDKProfiles: sdk, Tokens: apiTokens,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, Metrics: metrics, Ready: ready, Log: log,
	})
	if err != nil {
		return err
	}
	opts := server.ServerOptions{
		API: api, Listen: cfg.Server.Listen,
		CertFile: cfg.Server.TLS.CertFile, KeyFile: cfg.Server.TLS.KeyFile,
		ReadTimeout: cfg.Server.ReadTimeout.Std(), WriteTimeout: cfg.Server.WriteTimeout.Std(), IdleTimeout: cfg.Server.IdleTimeout.Std(),
		Log: log,
	}
	if cfg.Server.AdminListen != config.AdminOff {
		opts.Admin = server.NewAdmin(server.AdminOptions{Gatherer: reg, Tokens: adminTokens, Ready: ready})
		opts.AdminListen = cfg.Server.AdminListen
	}
	srv, err := server.Listen(opts)
	if err != nil {
		return err
	}
	addrs := make([]string, 0, 2)
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("ready to serve", "listen", addrs, "store", cfg.Store.Kind, "saves", cfg.Store.Saves.Mode,
		"cache_size", cfg.Store.Cache.Size, "sdk_keys", slices.Sorted(slices.Values(set.Keys())), "tls", cfg.Server.TLS.CertFile != "")

	var served error
loop:
	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: reloading datafiles")
				if err := set.Reload(ctx); err != nil {
					log.Error("reload", "err", err)
				}
				continue
			}
			log.Info("stopping", "signal", sig.String())
			break loop
		case <-ctx.Done():
			log.Info("stopping", "reason", ctx.Err())
			break loop
		case err := <-srv.Err():
			served = err
			break loop
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Std())
	defer cancel()
	var errs []error
	if served != nil {
		errs = append(errs, served)
	}
	if err := srv.Close(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	log.Info("listeners closed; requests in flight finished")
	errs = append(errs, down.run())
	return errors.Join(errs...)
}
