package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/datafiles"
	"github.com/stickybucket/stickybucket/events"
	"github.com/stickybucket/stickybucket/server"
)

// ServiceOptions adds to the configuration what a file cannot hold.
type ServiceOptions struct {
	// Log receives the service's logs, the stack's and gocql's included;
	// nil means slog.Default().
	Log *slog.Logger
	// Migrate creates the Cassandra keyspace and schema before the store
	// opens (what `stickybucket migrate` does).
	Migrate bool
	// Signals, when set, is where the service takes SIGINT, SIGTERM and
	// SIGHUP from, instead of the process's: tests send them here.
	Signals <-chan os.Signal
}

// Service is `stickybucket serve` assembled from configuration: the
// profile stack, the datafiles (files watched, URLs polled) with a
// decision client each, the API and admin listeners (tokens, TLS,
// metrics, readiness) and the process's signals. NewService starts it;
// Run serves until the service is told to stop, then closes it.
type Service struct {
	cfg     config.Config
	log     *slog.Logger
	signals <-chan os.Signal
	stack   *Stack
	set     *datafiles.Set
	srv     *server.Server
	// events sends impressions and conversions; nil when events are off.
	events *events.Processor
	// notes is the notification stream's broadcaster; nil when off. It
	// exists before the datafiles load, which notify it of new revisions.
	notes *server.Notifications
	// tracing makes and exports the spans; nil when tracing is off.
	tracing *sdktrace.TracerProvider
	// down undoes what NewService started before the listeners, last
	// started first.
	down      shutdown
	closeOnce sync.Once
}

// NewService builds the service cfg describes and starts it: the store
// opens (connecting to Cassandra, and with ServiceOptions.Migrate creating
// the schema), every datafile loads, watchers and pollers start, the
// listeners bind, and the service logs "ready to serve" with their
// addresses. Signals are caught from the start, so one sent during
// start-up is not lost. On an error NewService closes what it started.
func NewService(ctx context.Context, cfg config.Config, opts ServiceOptions) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: opts.Log, signals: opts.Signals}
	if s.log == nil {
		s.log = slog.Default()
	}
	apiTokens, adminTokens, err := serverTokens(cfg.Server)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.down.run())
		}
	}()
	if s.signals == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		s.down.add(func() error { signal.Stop(ch); return nil })
		s.signals = ch
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := server.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	// Tracing starts first, so it is closed last: the store's last calls
	// are traced, then every span is sent.
	if err := s.startTracing(ctx); err != nil {
		return nil, err
	}
	if err := s.openStack(ctx, reg, metrics, opts.Migrate); err != nil {
		return nil, err
	}
	if err := s.startEvents(reg); err != nil {
		return nil, err
	}
	if n := cfg.Server.Notifications; n.Enabled {
		if s.notes, err = server.NewNotifications(server.NotificationOptions{MaxSubscribers: n.MaxSubscribers, Buffer: n.Buffer, Registerer: reg}); err != nil {
			return nil, err
		}
	}
	if err := s.startDatafiles(ctx, metrics); err != nil {
		return nil, err
	}
	apiAuth, adminAuth, err := s.startAuth(ctx, reg)
	if err != nil {
		return nil, err
	}
	if err := s.listen(apiTokens, adminTokens, apiAuth, adminAuth, reg, metrics); err != nil {
		return nil, err
	}
	addrs := make([]string, 0, 3)
	for _, a := range s.srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	eventsURL := "off"
	if s.events != nil {
		eventsURL = s.events.URL()
	}
	s.log.Info("ready to serve", "listen", addrs, "store", cfg.Store.Kind, "saves", cfg.Store.Saves.Mode,
		"cache_size", cfg.Store.Cache.Size, "sdk_keys", slices.Sorted(slices.Values(s.set.Keys())), "tls", cfg.Server.TLS.CertFile != "",
		"events", eventsURL, "tracing", s.tracingSummary())
	return s, nil
}

// openStack opens the profile stack; Close drains its pending saves after
// the listeners stopped taking requests.
func (s *Service) openStack(ctx context.Context, reg prometheus.Registerer, metrics *server.Metrics, migrate bool) error {
	st, err := Open(ctx, s.cfg, Options{Log: s.log, Registry: reg, ObserveStore: metrics.ObserveStore, Migrate: migrate,
		Tracer: s.tracer(), TraceUserID: s.cfg.Tracing.UserID})
	if err != nil {
		return err
	}
	s.stack = st
	s.down.add(func() error {
		closeCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.Std())
		defer cancel()
		if err := st.Close(closeCtx); err != nil {
			return fmt.Errorf("profile store closed with work left: %w", err)
		}
		s.log.Info("profile store closed")
		return nil
	})
	return nil
}

// startDatafiles loads every datafile and starts the watchers and pollers
// that reload them.
func (s *Service) startDatafiles(ctx context.Context, metrics *server.Metrics) error {
	set, err := newDatafileSet(s.cfg, s.stack, s.log, revisions(metrics.DatafileLoaded, s.notes))
	if err != nil {
		return err
	}
	if err := set.Load(ctx); err != nil {
		return err
	}
	if err := set.Start(); err != nil {
		return err
	}
	s.set = set
	s.down.add(func() error {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return set.Close(closeCtx) // "datafiles: close: …"
	})
	return nil
}

// revisions passes each datafile load to loaded, and a revision that
// changed to notes (the SDK's project_config_update notification, sent
// when a datafile's revision changes, not when a reload finds the same).
func revisions(loaded func(sdkKey, revision string, err error), notes *server.Notifications) func(sdkKey, revision string, err error) {
	var mu sync.Mutex
	last := map[string]string{}
	return func(sdkKey, revision string, err error) {
		loaded(sdkKey, revision, err)
		if err != nil {
			return
		}
		mu.Lock()
		prev, seen := last[sdkKey]
		last[sdkKey] = revision
		mu.Unlock()
		if seen && prev != revision {
			notes.DatafileUpdated(sdkKey, revision)
		}
	}
}

// ready backs /ready: every datafile is loaded and the store answers.
func (s *Service) ready(ctx context.Context) error {
	if n, want := len(s.set.Entries()), len(s.set.Keys()); n != want {
		return fmt.Errorf("%d of %d datafiles loaded", n, want)
	}
	return s.stack.Ready(ctx)
}

// Addrs returns the bound addresses: the API's, then the admin's if any.
func (s *Service) Addrs() []net.Addr { return s.srv.Addrs() }

// Run serves until ctx ends, SIGINT or SIGTERM arrives, or a listener
// fails, reloading the datafiles on every SIGHUP; then it closes the
// service (see Close) and returns what failed, a listener's error first.
func (s *Service) Run(ctx context.Context) error {
	served := s.wait(ctx)
	return errors.Join(served, s.Close())
}

// wait returns when the service is told to stop: nil, or the error of a
// listener that stopped on its own.
func (s *Service) wait(ctx context.Context) error {
	for {
		select {
		case sig := <-s.signals:
			if sig == syscall.SIGHUP {
				s.log.Info("SIGHUP: reloading datafiles")
				if err := s.set.Reload(ctx); err != nil {
					s.log.Error("reload", "err", err)
				}
				continue
			}
			s.log.Info("stopping", "signal", sig.String())
			return nil
		case <-ctx.Done():
			s.log.Info("stopping", "reason", ctx.Err())
			return nil
		case err := <-s.srv.Err():
			return err
		}
	}
}

// Close stops accepting requests and lets those in flight finish within
// server.shutdown_timeout, stops the datafile watchers, sends the queued
// events (within shutdown_timeout again), then drains the pending saves
// and closes the store (within shutdown_timeout again), sends the spans
// not yet sent (within shutdown_timeout again), and stops catching
// signals. It says what could not finish. Close is
// idempotent: a second call does nothing and returns nil.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.Std())
		defer cancel()
		var errs []error
		if err := s.srv.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		s.log.Info("listeners closed; requests in flight finished")
		errs = append(errs, s.down.run())
		err = errors.Join(errs...)
	})
	return err
}

// shutdown is a list of steps that close what was started, run last
// started first; it collects what could not finish.
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
