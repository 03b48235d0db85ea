package datafiles

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// watched is implemented by sources the Set watches with fsnotify instead
// of polling (File).
type watched interface {
	watchedPath() string
}

// Start starts the background work: File sources are watched (their
// directories, with fsnotify) and reloaded when they change; other
// sources are polled every PollInterval. A file whose directory cannot be
// watched is polled instead, with a warning. The work goes on until Close.
func (s *Set) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("datafiles: start: already started")
	}
	s.started = true
	var files, polled []*slot
	for _, k := range s.keys {
		sl := s.slots[k]
		if _, ok := sl.src.(watched); ok {
			files = append(files, sl)
		} else {
			polled = append(polled, sl)
		}
	}
	polled = append(polled, s.startWatch(files)...)
	for _, sl := range polled {
		s.workers.Go(func() { s.pollLoop(sl) })
	}
	return nil
}

// pollLoop refreshes sl every PollInterval, jittered, and whenever
// RefreshSoon kicks it, until Close. A kicked refresh starts the interval
// again.
func (s *Set) pollLoop(sl *slot) {
	t := time.NewTimer(jitter(s.poll))
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		case <-sl.kick:
			t.Stop()
		}
		// Failures are reported through OnLoad and the log.
		_ = s.refresh(s.life, sl, false)
		t.Reset(jitter(s.poll))
	}
}

// ErrNotPolled is wrapped by RefreshSoon's error for an SDK key whose
// datafile is a watched file: it is read again when the file changes.
var ErrNotPolled = errors.New("datafiles: datafile not polled")

// RefreshSoon asks the poll loop of sdkKey's datafile to fetch it now
// rather than at the end of its interval (what a webhook saying the
// datafile changed triggers), and returns at once: the fetch is done in
// the background and reported through OnLoad like a polled one, and
// requests made while one is pending coalesce into it, so any number of
// calls costs at most one fetch in flight and one pending per SDK key.
// It fails for an SDK key the Set does not hold (ErrUnknownSDKKey), for
// a watched file (ErrNotPolled), and before Start or after Close.
func (s *Set) RefreshSoon(sdkKey string) error {
	sl := s.slots[sdkKey]
	if sl == nil {
		return fmt.Errorf("%w %q", ErrUnknownSDKKey, clip(sdkKey))
	}
	s.mu.Lock()
	started, closed := s.started, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !started:
		return fmt.Errorf("datafiles: refresh SDK key %q: not started", sl.key)
	}
	if _, ok := sl.src.(watched); ok {
		return fmt.Errorf("%w: SDK key %q is the file %s, read again when it changes", ErrNotPolled, sl.key, sl.src)
	}
	select {
	case sl.kick <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

// jitter returns d ±10%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// Close stops the background work started by Start: in-flight fetches are
// cancelled and Close waits until every goroutine has returned, or until
// ctx ends, then says which SDK keys were still refreshing. Get keeps
// answering with the datafiles in force; Load, Reload and Start fail with
// ErrClosed.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		var busy []string
		for _, k := range s.keys {
			if len(s.slots[k].lock) > 0 {
				busy = append(busy, k)
			}
		}
		if len(busy) == 0 {
			return fmt.Errorf("datafiles: close: background work still running: %w", ctx.Err())
		}
		return fmt.Errorf("datafiles: close: background work still running, refreshing SDK keys %q: %w", busy, ctx.Err())
	}
}
