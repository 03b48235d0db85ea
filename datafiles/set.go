package datafiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clipText "github.com/stickybucket/stickybucket/internal/clip"

	"github.com/stickybucket/stickybucket/decision"
)

// Defaults for the zero values of Options.
const (
	DefaultPollInterval = time.Minute
	DefaultWatchDelay   = 100 * time.Millisecond
)

var (
	// ErrUnknownSDKKey is wrapped by Get's error for an SDK key the Set
	// does not hold.
	ErrUnknownSDKKey = errors.New("datafiles: unknown SDK key")
	// ErrSDKKeyRequired is Get's error for the empty SDK key when the Set
	// holds more than one datafile, so it cannot tell which is meant.
	ErrSDKKeyRequired = errors.New("datafiles: an SDK key is required (X-Optimizely-SDK-Key): more than one datafile is served")
	// ErrNotLoaded is wrapped by Get's error for a known SDK key whose
	// datafile has not loaded yet (Load failed for it).
	ErrNotLoaded = errors.New("datafiles: datafile not loaded")
	// ErrRejected is wrapped by the error reported for a datafile that was
	// fetched but did not parse or build: the previous one keeps serving.
	// Errors without it are failures to fetch.
	ErrRejected = errors.New("datafile rejected")
	// ErrClosed is returned by Load, Reload and Start after Close.
	ErrClosed = errors.New("datafiles: closed")
)

// Options configures a Set. Only Sources is required.
type Options struct {
	// Sources are the datafiles to serve, by SDK key. A key may not be
	// empty: Get's "" means "the only datafile".
	Sources map[string]Source
	// Parse turns fetched bytes into a datafile; nil means
	// decision.ParseDatafile.
	Parse func(data []byte) (*decision.Datafile, error)
	// Build makes the client deciding on a new datafile (profile store,
	// budget, refresh… are the caller's); nil means decision.NewClient
	// with only the datafile.
	Build func(sdkKey string, df *decision.Datafile) (*decision.Client, error)
	// PollInterval is how often sources other than File are fetched
	// after Start, with ±10% jitter so servers started together spread
	// their requests; zero means DefaultPollInterval.
	PollInterval time.Duration
	// WatchDelay coalesces bursts of file system events: a file is read
	// once WatchDelay has passed without another event in its directory
	// (at most 10×WatchDelay after the first). Zero means
	// DefaultWatchDelay.
	WatchDelay time.Duration
	// OnLoad is called after every fetch that brought a new datafile or
	// failed (not for unchanged ones), for metrics and logs: err is nil
	// when the datafile of that revision is now in force; otherwise
	// revision is the one still in force ("" if none) and err names the
	// SDK key and source (errors.Is(err, ErrRejected) when the datafile
	// was fetched but did not parse or build). Calls for one SDK key are
	// serialised; it must not block.
	OnLoad func(sdkKey, revision string, err error)
	// Logger receives a line per datafile loaded or rejected; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Set holds the datafiles in force, one per SDK key, and replaces each
// when its source changes. Get never blocks: a datafile is fetched,
// parsed and built aside, then swapped in atomically. A datafile that
// fails to fetch, parse or build leaves the previous one serving.
//
// Use: New, Load (fails unless every datafile loaded), Start (background
// watching and polling), Get on every request, Reload on SIGHUP, Close.
// A Set is safe for concurrent use.
type Set struct {
	slots   map[string]*slot // read-only after New
	keys    []string         // sorted
	only    *slot            // the slot when there is exactly one
	parse   func([]byte) (*decision.Datafile, error)
	build   func(string, *decision.Datafile) (*decision.Client, error)
	poll    time.Duration
	delay   time.Duration
	onLoad  func(string, string, error)
	log     *slog.Logger
	life    context.Context // ends at Close; bounds background refreshes
	stop    context.CancelFunc
	workers sync.WaitGroup

	mu      sync.Mutex // guards started, closed
	started bool
	closed  bool
}

// slot is one SDK key's source and datafile.
type slot struct {
	key   string
	src   Source
	entry atomic.Pointer[Entry]
	// lock (capacity 1) is held while the slot refreshes, so refreshes of
	// one key are serialised and waiting for one honours a context.
	lock chan struct{}
	// Guarded by lock: the version of the last content fetched, and the
	// error that rejected it (nil if it was accepted).
	version  string
	rejected error
}

// New returns a Set for opts. Nothing is fetched until Load.
func New(opts Options) (*Set, error) {
	if len(opts.Sources) == 0 {
		return nil, errors.New("datafiles: new set: no sources")
	}
	if opts.PollInterval < 0 || opts.WatchDelay < 0 {
		return nil, fmt.Errorf("datafiles: new set: negative PollInterval (%s) or WatchDelay (%s)", opts.PollInterval, opts.WatchDelay)
	}
	s := &Set{
		slots: make(map[string]*slot, len(opts.Sources)),
		parse: opts.Parse, build: opts.Build,
		poll: opts.PollInterval, delay: opts.WatchDelay,
		onLoad: opts.OnLoad, log: opts.Logger,
	}
	for key, src := range opts.Sources {
		if key == "" {
			return nil, fmt.Errorf("datafiles: new set: empty SDK key (for source %v)", src)
		}
		if src == nil {
			return nil, fmt.Errorf("datafiles: new set: SDK key %q has no source", key)
		}
		s.slots[key] = &slot{key: key, src: src, lock: make(chan struct{}, 1)}
		s.keys = append(s.keys, key)
	}
	slices.Sort(s.keys)
	if len(s.keys) == 1 {
		s.only = s.slots[s.keys[0]]
	}
	if s.parse == nil {
		s.parse = decision.ParseDatafile
	}
	if s.build == nil {
		s.build = func(_ string, df *decision.Datafile) (*decision.Client, error) {
			return decision.NewClient(decision.Options{Datafile: df})
		}
	}
	if s.poll == 0 {
		s.poll = DefaultPollInterval
	}
	if s.delay == 0 {
		s.delay = DefaultWatchDelay
	}
	if s.onLoad == nil {
		s.onLoad = func(string, string, error) {}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.life, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// Get returns the Entry in force for sdkKey. The empty key means the only
// datafile when the Set holds exactly one, else ErrSDKKeyRequired. A key
// the Set does not hold is ErrUnknownSDKKey; one not loaded yet,
// ErrNotLoaded. Get takes no lock and allocates only for an error.
func (s *Set) Get(sdkKey string) (*Entry, error) {
	sl := s.only
	if sdkKey != "" {
		sl = s.slots[sdkKey]
		if sl == nil {
			return nil, fmt.Errorf("%w %q", ErrUnknownSDKKey, clip(sdkKey))
		}
	} else if sl == nil {
		return nil, ErrSDKKeyRequired
	}
	e := sl.entry.Load()
	if e == nil {
		return nil, fmt.Errorf("%w for SDK key %q", ErrNotLoaded, sl.key)
	}
	return e, nil
}

// clip shortens a key from a request for an error message.
func clip(s string) string { return clipText.To(s, 64) }

// Keys returns every SDK key the Set holds, loaded or not, sorted.
func (s *Set) Keys() []string { return slices.Clone(s.keys) }

// Entries returns the Entry in force for every loaded SDK key, sorted by
// key. The Set is ready when it has as many entries as keys.
func (s *Set) Entries() []*Entry {
	out := make([]*Entry, 0, len(s.keys))
	for _, k := range s.keys {
		if e := s.slots[k].entry.Load(); e != nil {
			out = append(out, e)
		}
	}
	return out
}
