package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/sdkprofiles"
	"github.com/stickybucket/stickybucket/ups"
)

// Options adds to the configuration what a file cannot hold.
type Options struct {
	// Log receives the stack's logs, gocql's included; nil means
	// slog.Default().
	Log *slog.Logger
	// Registry, when set, gets the stack's metrics: store calls (through
	// ObserveStore), cache, async saver and breaker counters.
	Registry prometheus.Registerer
	// ObserveStore is called after every call that reaches the store.
	ObserveStore func(op string, d time.Duration, err error)
	// Migrate creates the keyspace and schema before opening a Cassandra
	// store (what `stickybucket migrate` does); otherwise they must exist.
	Migrate bool
	// Now is the clock of the memory store, the cache and the decisions;
	// nil means time.Now. Tests move it.
	Now func() time.Time
	// Tracer, when set, makes a span of every store call within a traced
	// request (ups.Traced, just above the store's metrics); TraceUserID
	// records the user ID on them.
	Tracer      trace.Tracer
	TraceUserID bool
	// Store, when set, is the bottom store instead of the one store.kind
	// names: `stickybucket decide` keeps its profiles file in a compact
	// table of its own. The layers and decisions are built over it as
	// configured; Close closes it.
	Store ups.Service
}

// Stack is an assembled profile stack.
type Stack struct {
	// Profiles is the top of the layers: what decisions and the profile
	// routes use.
	Profiles ups.Service
	// Store is the bottom store.
	Store ups.Service
	// Memory is the store when it is in memory (the CLI writes it to its
	// profiles file); nil for Cassandra.
	Memory *ups.Memory
	// Cache, Saver and Breaker are the layers in use; nil when off.
	Cache   *ups.Cache
	Saver   *ups.AsyncSaver
	Breaker *ups.Breaker
	// Budget is the adaptive store budget of the decisions (store.budget:
	// auto with Cassandra); nil otherwise.
	Budget *decision.AdaptiveBudget
	// Background runs the background writes of every decision client on
	// the stack (decision.BackgroundWrites), with Cassandra; Close waits
	// for them before closing the layers. Nil for the in-memory store,
	// whose decisions have no budget to run out of.
	Background *decision.BackgroundWrites
	// Overrides are the forced variations of POST /v1/override when
	// server.overrides.enabled: in Cassandra's overrides table with
	// Cassandra (every server shares them), in memory otherwise; nil when
	// off, and decisions then pay nothing for them.
	Overrides ups.Overrides

	cfg       config.Config
	env       config.Environment
	session   *gocql.Session
	log       *slog.Logger
	now       func() time.Time
	closeOnce sync.Once
}

// Open builds the stack cfg describes: for Cassandra it connects (and,
// with Options.Migrate, creates the schema) before returning. The caller
// must Close it.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Stack, error) {
	env, err := cfg.Active()
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s := &Stack{cfg: cfg, env: env, log: opts.Log, now: opts.Now}
	if cfg.Store.Kind == config.StoreCassandra {
		// Only there do decisions have a store budget to run out of.
		s.Background = decision.NewBackgroundWrites(0)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.openStore(ctx, opts); err != nil {
		return nil, err
	}
	if err := s.addLayers(opts); err != nil {
		_ = s.closeBelow(ctx, s.Profiles)
		return nil, err
	}
	if err := s.openOverrides(opts); err != nil {
		_ = s.Close(ctx)
		return nil, err
	}
	if opts.Registry != nil {
		if err := s.register(opts.Registry); err != nil {
			_ = s.Close(ctx)
			return nil, fmt.Errorf("stack: metrics: %w", err)
		}
	}
	return s, nil
}

// openStore opens the bottom store: the one Options gives, Cassandra, or
// memory.
func (s *Stack) openStore(ctx context.Context, opts Options) error {
	switch {
	case opts.Store != nil:
		s.Store = opts.Store
	case s.cfg.Store.Kind == config.StoreCassandra:
		store, session, err := openCassandra(ctx, s.cfg, s.env, opts, s.log)
		if err != nil {
			return err
		}
		s.Store, s.session = store, session
	default:
		m, err := ups.NewMemory(ups.MemoryOptions{Retention: s.env.RetentionPolicy(), MaxBytes: s.cfg.Store.Memory.MaxBytes, Now: opts.Now})
		if err != nil {
			return fmt.Errorf("stack: memory store: %w", err)
		}
		s.Store, s.Memory = m, m
	}
	s.Profiles = s.Store
	return nil
}

// addLayers builds the configured layers over the store, bottom up; each
// becomes s.Profiles. On an error s.Profiles is the top of the layers
// built so far, for the caller to close.
func (s *Stack) addLayers(opts Options) error {
	cass := s.cfg.Store.Kind == config.StoreCassandra && opts.Store == nil
	observe := opts.ObserveStore
	if cass && s.cfg.Store.Budget.Auto {
		b, err := decision.NewAdaptiveBudget(decision.AdaptiveBudgetOptions{
			Floor: s.cfg.Store.BudgetFloor.Std(), Ceiling: s.cfg.Store.BudgetCeiling.Std(), Now: opts.Now,
		})
		if err != nil {
			return fmt.Errorf("stack: store budget: %w", err)
		}
		s.Budget = b
		observe = observeLookups(b, observe)
	}
	if observe != nil {
		o, err := ups.NewObserved(s.Profiles, observe)
		if err != nil {
			return fmt.Errorf("stack: %w", err)
		}
		s.Profiles = o
	}
	if opts.Tracer != nil {
		t, err := ups.NewTraced(s.Profiles, ups.TracedOptions{Tracer: opts.Tracer, UserID: opts.TraceUserID})
		if err != nil {
			return fmt.Errorf("stack: %w", err)
		}
		s.Profiles = t
	}
	if s.cfg.Store.Kind == config.StoreCassandra && !s.cfg.Store.Breaker.Disabled {
		if err := s.addBreaker(); err != nil {
			return err
		}
	}
	if s.cfg.Store.Saves.Mode == config.SavesAsync {
		if err := s.addSaver(opts); err != nil {
			return err
		}
	}
	if s.cfg.Store.Cache.Size > 0 {
		if err := s.addCache(opts); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) addBreaker() error {
	b, err := ups.NewBreaker(s.Profiles, ups.BreakerOptions{
		Failures:      s.cfg.Store.Breaker.Failures,
		OpenFor:       s.cfg.Store.Breaker.OpenFor.Std(),
		UnansweredFor: s.cfg.Store.Breaker.UnansweredFor.Std(),
	})
	if err != nil {
		return fmt.Errorf("stack: breaker: %w", err)
	}
	s.Breaker, s.Profiles = b, b
	return nil
}

func (s *Stack) addSaver(opts Options) error {
	onFull, err := ups.ParseFullPolicy(s.cfg.Store.Saves.OnFull)
	if err != nil {
		return fmt.Errorf("stack: async saves: store.saves.on_full: %w", err)
	}
	a, err := ups.NewAsyncSaver(s.Profiles, ups.AsyncOptions{
		QueueSize: s.cfg.Store.Saves.Queue,
		Workers:   s.cfg.Store.Saves.Workers,
		Timeout:   s.cfg.Cassandra.Timeout.Std(),
		RetryFor:  s.cfg.Store.Saves.RetryFor.Std(),
		OnFull:    onFull,
		FullWait:  s.cfg.Store.Saves.FullWait.Std(),
		Retention: s.env.RetentionPolicy(),
		Now:       opts.Now,
		OnError: func(p ups.Profile, err error) {
			s.log.Warn("async save not written", "user_id", p.UserID, "assignments", len(p.Assignments), "err", err)
		},
	})
	if err != nil {
		return fmt.Errorf("stack: async saves: %w", err)
	}
	s.Saver, s.Profiles = a, a
	return nil
}

func (s *Stack) addCache(opts Options) error {
	c, err := ups.NewCache(s.Profiles, ups.CacheOptions{
		Size:      s.cfg.Store.Cache.Size,
		TTL:       s.cfg.Store.Cache.TTL.Std(),
		Retention: s.env.RetentionPolicy(),
		Now:       opts.Now,
		// A read the cache goes on with after its caller's budget ran
		// out gets the driver's attempts (a timeout each, two retries).
		ReadTimeout: 3 * s.cfg.Cassandra.Timeout.Std(),
	})
	if err != nil {
		return fmt.Errorf("stack: cache: %w", err)
	}
	s.Cache, s.Profiles = c, c
	return nil
}

// observeLookups returns a store hook that feeds every successful lookup's
// duration to the adaptive budget, then calls next (if any).
func observeLookups(b *decision.AdaptiveBudget, next func(op string, d time.Duration, err error)) func(op string, d time.Duration, err error) {
	return func(op string, d time.Duration, err error) {
		if err == nil {
			switch op {
			case ups.OpLookup, ups.OpLookupExperiments, ups.OpLookupAssignment:
				b.Observe(d)
			}
		}
		if next != nil {
			next(op, d, err)
		}
	}
}

// DecisionOptions returns the options of a decision client on df with the
// active environment's policies.
func (s *Stack) DecisionOptions(df *decision.Datafile) decision.Options {
	o := decision.Options{
		Datafile:         df,
		Profiles:         s.Profiles,
		RefreshAfter:     s.env.RefreshAfter.Std(),
		FirstWriterWins:  s.env.FirstWriterWins,
		BackgroundWrites: s.Background,
		Overrides:        s.Overrides,
		Now:              s.now,
	}
	if s.cfg.Store.Kind == config.StoreCassandra {
		if s.Budget != nil {
			o.AdaptiveBudget = s.Budget
		} else if !s.cfg.Store.Budget.Auto {
			o.StoreBudget = s.cfg.Store.Budget.Fixed.Std()
		}
		o.FirstWriteBudget = s.cfg.Store.FirstWriterBudget.Std()
	}
	if len(s.env.Reset) > 0 {
		o.Resets = make(map[string]decision.Reset, len(s.env.Reset))
		for id, r := range s.env.Reset {
			o.Resets[id] = decision.Reset{Before: r.Before, ExcludePrevious: r.ExcludePrevious}
		}
	}
	return o
}

// SDKProfiles returns the SDKs' lookup and save over the stack's profiles
// with the active environment's stickiness rules (refresh, resets, first
// writer wins), for /v1/ups and the official SDKs' adapters.
func (s *Stack) SDKProfiles() (*sdkprofiles.Service, error) {
	o := sdkprofiles.Options{
		RefreshAfter:    s.env.RefreshAfter.Std(),
		FirstWriterWins: s.env.FirstWriterWins,
		Now:             s.now,
	}
	if len(s.env.Reset) > 0 {
		o.Resets = make(map[string]time.Time, len(s.env.Reset))
		for id, r := range s.env.Reset {
			o.Resets[id] = r.Before
		}
	}
	return sdkprofiles.New(s.Profiles, o)
}

// NewClient returns a decision client on df over the stack.
func (s *Stack) NewClient(df *decision.Datafile) (*decision.Client, error) {
	return decision.NewClient(s.DecisionOptions(df))
}

// readyProbe is a user no one has: reading it costs one partition miss.
const readyProbe = "stickybucket-readiness-probe"

// Ready reports whether the store answers: a one-row read succeeds within
// ctx and the breaker is closed. The read goes through the breaker, so
// while it is half-open the probe counts towards closing it, and /ready
// says ready exactly when stickybucket_breaker_open reads 0.
func (s *Stack) Ready(ctx context.Context) error {
	probe, _ := ups.As[ups.AssignmentLookuper](s.Store)
	if s.Breaker != nil {
		if h := s.Breaker.Health(); h.State == ups.BreakerOpen {
			return fmt.Errorf("profile store unavailable (circuit open since %s): %v", h.Since.UTC().Format(time.RFC3339), h.LastError)
		}
		probe = s.Breaker
	}
	if probe != nil {
		if _, _, err := probe.LookupAssignment(ctx, readyProbe, "readiness"); err != nil {
			return fmt.Errorf("profile store unavailable: %w", err)
		}
	}
	if s.Breaker != nil {
		if h := s.Breaker.Health(); h.State != ups.BreakerClosed {
			return fmt.Errorf("profile store recovering (circuit %s since %s, probing): %v", h.State, h.Since.UTC().Format(time.RFC3339), h.LastError)
		}
	}
	return nil
}

// Close flushes and closes the layers from the top down, then the store
// and its session, and says what it could not finish (saves not written
// before ctx ended, among others). Close is idempotent: a second call
// does nothing and returns nil (a call while the first runs waits for it).
func (s *Stack) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.closeBelow(ctx, s.Profiles) })
	return err
}

func (s *Stack) closeBelow(ctx context.Context, top ups.Service) error {
	var errs []error
	if s.Background != nil {
		if err := s.Background.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stack: background writes: %w", err))
		}
	}
	if err := ups.Close(ctx, top); err != nil {
		errs = append(errs, err)
	}
	if s.session != nil {
		s.session.Close()
	}
	return errors.Join(errs...)
}
