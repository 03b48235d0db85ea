package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/stack"
)

// repeated collects a repeatable flag.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// serveFlags are serve's command line; every flag overrides the
// configuration.
type serveFlags struct {
	config, listen, adminListen, store string
	datafiles, sdkKeys                 repeated
	datafileURLTemplate                string
	migrate                            bool
	eventsURL                          string
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
	fs.Var(&f.sdkKeys, "sdk-key", "serve the datafile of `SDKKEY`, fetched from Optimizely's CDN (datafile_url_template) and polled (repeatable; with --datafile, replaces datafiles in the configuration)")
	fs.StringVar(&f.datafileURLTemplate, "datafile-url-template", "", "where --sdk-key's datafiles are fetched, `URL` with %s for the SDK key (datafile_url_template; default https://cdn.optimizely.com/datafiles/%s.json)")
	fs.BoolVar(&f.migrate, "migrate", false, "create the Cassandra keyspace and schema first (as `stickybucket migrate`)")
	fs.StringVar(&f.eventsURL, "events-url", "", "send impression and conversion events to `URL` (events.url, and turns events.enabled on; Optimizely's is https://logx.optimizely.com/v1/events)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stickybucket serve [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT] [--datafile [SDKKEY=]PATH|URL]... [--sdk-key SDKKEY]... [--datafile-url-template URL] [--store memory|cassandra] [--migrate] [--events-url URL]")
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
		// Defaults only: the in-memory store, in the default environment.
		cfg, err = config.Parse(nil, os.LookupEnv)
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
		cfg.SetStoreKind(f.store)
	}
	if f.eventsURL != "" {
		cfg.Events.URL, cfg.Events.Enabled = f.eventsURL, true
	}
	if f.datafileURLTemplate != "" {
		cfg.DatafileURLTemplate = f.datafileURLTemplate
	}
	if len(f.datafiles) > 0 || len(f.sdkKeys) > 0 {
		if cfg.Datafiles, err = config.ParseDatafileSources(f.datafiles); err != nil {
			return config.Config{}, fmt.Errorf("--datafile: %w", err)
		}
		cfg.Datafiles = append(cfg.Datafiles, config.SDKKeySources(f.sdkKeys)...)
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	if len(cfg.Datafiles) == 0 {
		return config.Config{}, errors.New("no datafile to serve: give --datafile [SDKKEY=]PATH, --sdk-key SDKKEY, or datafiles in the configuration")
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

// runServe is `stickybucket serve`: the Agent-compatible HTTP service,
// which stack.Service assembles and runs. SIGHUP reloads the datafiles;
// SIGINT and SIGTERM stop accepting, finish the requests in flight, drain
// pending saves and close the store.
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

// serve starts the service the composition root builds from cfg and runs
// it until ctx ends or a signal stops it.
func serve(ctx context.Context, cfg config.Config, migrate bool, log *slog.Logger) error {
	svc, err := stack.NewService(ctx, cfg, stack.ServiceOptions{Log: log, Migrate: migrate})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
