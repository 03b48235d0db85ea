package datafiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stickybucket/stickybucket/events"
)

// parallelFetches bounds how many sources Load and Reload fetch at once.
const parallelFetches = 8

// Load fetches, parses and builds every datafile, whatever was fetched
// before. It returns an error unless all loaded, with one line per SDK key
// that failed naming the key and source; the service must not start
// half-configured. Datafiles that did load are in force.
func (s *Set) Load(ctx context.Context) error {
	if err := s.refreshAll(ctx, true); err != nil {
		return fmt.Errorf("datafiles: load: %w", err)
	}
	return nil
}

// Reload fetches every datafile again now (what SIGHUP triggers). For each
// SDK key, an unchanged datafile is skipped cheaply; a new one that fails
// to fetch, parse or build leaves the previous one serving and is reported
// through OnLoad and in the returned error, which joins one error per SDK
// key that failed. A datafile still unchanged since it was rejected is
// reported again in the error (not through OnLoad).
func (s *Set) Reload(ctx context.Context) error {
	if err := s.refreshAll(ctx, false); err != nil {
		return fmt.Errorf("datafiles: reload: %w", err)
	}
	return nil
}

// Refresh fetches sdkKey's datafile again now and returns once it is in
// force or failed (what Optimizely's webhook triggers, as Agent's does):
// like Reload, for one SDK key. A refresh already in progress for the key
// is waited for, then this one runs (a conditional request: cheap when
// nothing changed). It fails for an SDK key the Set does not hold
// (ErrUnknownSDKKey) and after Close.
func (s *Set) Refresh(ctx context.Context, sdkKey string) error {
	sl := s.slots[sdkKey]
	if sl == nil {
		return fmt.Errorf("datafiles: refresh: %w %q", ErrUnknownSDKKey, clip(sdkKey))
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := s.refresh(ctx, sl, false); err != nil {
		return fmt.Errorf("datafiles: refresh: %w", err)
	}
	return nil
}

func (s *Set) refreshAll(ctx context.Context, force bool) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	errs := make([]error, len(s.keys))
	sem := make(chan struct{}, parallelFetches)
	var wg sync.WaitGroup
	for i, k := range s.keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.refresh(ctx, s.slots[k], force)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// refresh fetches sl's datafile and, if it is new and good, puts it in
// force. Its errors start with the SDK key (the package's name is Load's
// and Reload's to add, once). force ignores what was fetched before. It reports a new datafile
// or a failure through OnLoad and the log, and returns the failure, or the
// standing rejection of an unchanged datafile.
func (s *Set) refresh(ctx context.Context, sl *slot, force bool) error {
	select {
	case sl.lock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("SDK key %q: waiting for the refresh in progress: %w", sl.key, ctx.Err())
	}
	defer func() { <-sl.lock }()

	since := sl.version
	if force {
		since = ""
	}
	old := sl.entry.Load()
	c, err := sl.src.Fetch(ctx, since)
	if err != nil {
		err = fmt.Errorf("SDK key %q: %w", sl.key, err)
		if ctx.Err() != nil {
			// Cancelled by the caller or by Close: not the datafile's
			// failure, so not counted.
			s.log.Debug("datafile fetch cancelled", "sdk_key", sl.key, "error", err)
			return err
		}
		s.failed(sl, old, err)
		return err
	}
	if c.Unchanged {
		if c.Version != "" {
			sl.version = c.Version
		}
		s.log.Debug("datafile unchanged", "sdk_key", sl.key, "source", sl.src.String())
		return sl.rejected
	}
	sum := sha256.Sum256(c.Data)
	hash := hex.EncodeToString(sum[:])
	if old != nil && old.SHA256 == hash {
		// The source could not tell, but these are the bytes in force.
		sl.version, sl.rejected = c.Version, nil
		return nil
	}
	e, err := s.entry(sl, c.Data, hash)
	if err == nil {
		sl.entry.Store(e)
		sl.version, sl.rejected = c.Version, nil
		s.loaded(sl, old, e)
		return nil
	}
	kept := "no datafile is served for it"
	if old != nil {
		kept = fmt.Sprintf("revision %q keeps serving", old.Revision)
	}
	err = fmt.Errorf("SDK key %q: %w from %s (%s): %w", sl.key, ErrRejected, sl.src, kept, err)
	sl.version, sl.rejected = c.Version, err
	s.failed(sl, old, err)
	return err
}

// entry parses raw and builds its client. A panic in Parse or Build is an
// error: a datafile that trips a bug is rejected, and the one in force
// keeps serving, instead of the process stopping.
func (s *Set) entry(sl *slot, raw []byte, hash string) (e *Entry, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	df, err := s.parse(raw)
	if err != nil {
		return nil, err
	}
	if df == nil {
		return nil, errors.New("parse: no datafile and no error")
	}
	client, err := s.build(sl.key, df)
	if err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	if client == nil {
		return nil, errors.New("build client: Build returned no client")
	}
	proj, err := events.ParseProject(raw)
	if err != nil {
		return nil, err
	}
	return &Entry{
		SDKKey: sl.key, Revision: df.Revision(), Client: client, Datafile: df, Events: proj,
		Raw: raw, SHA256: hash, Source: sl.src.String(), LoadedAt: time.Now(),
	}, nil
}

func (s *Set) loaded(sl *slot, old, e *Entry) {
	prev := ""
	if old != nil {
		prev = old.Revision
	}
	s.log.Info("datafile loaded", "sdk_key", sl.key, "revision", e.Revision, "previous_revision", prev,
		"source", e.Source, "bytes", len(e.Raw), "sha256", e.SHA256)
	s.onLoad(sl.key, e.Revision, nil)
}

func (s *Set) failed(sl *slot, old *Entry, err error) {
	rev := ""
	if old != nil {
		rev = old.Revision
	}
	s.log.Error("datafile not loaded", "sdk_key", sl.key, "source", sl.src.String(), "revision_in_force", rev, "error", err)
	s.onLoad(sl.key, rev, err)
}
