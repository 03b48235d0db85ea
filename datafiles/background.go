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

// pollLoop refreshes sl every PollInterval, jittered, until Close.
func (s *Set) pollLoop(sl *slot) {
	t := time.NewTimer(jitter(s.poll))
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		}
		// Failures are reported through OnLoad and the log.
		_ = s.refresh(s.life, sl, false)
		t.Reset(jitter(s.poll))
	}
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
