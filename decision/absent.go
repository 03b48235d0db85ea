package decision

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/stickybucket/stickybucket/ups"
)

// A decision whose profile lookup ran out of time is made without the
// user's saved assignments and must not write over one it could not read.
// But a new user decided then would lose the variation just served: the
// next decision, here or in another region, would bucket again (and after
// a datafile change, elsewhere). So its new assignments are written where
// the store holds none — SaveFirst, which never replaces a row — in the
// background, since the decision has already spent its budget.

// DefaultMaxBackgroundWrites bounds the background writes in flight of a
// BackgroundWrites made by NewBackgroundWrites(0): each holds a goroutine
// and one decision's new assignments, a few kilobytes.
const DefaultMaxBackgroundWrites = 1024

// absentAttemptTimeout bounds one try of a background write, at least
// (the first-writer budget when larger): nobody waits for it, and a
// transaction past a frozen coordinator takes a while.
const absentAttemptTimeout = 5 * time.Second

// absentRetryFor bounds the tries of one background write together, as
// the async saver's retries (ups.DefaultAsyncRetryFor): enough to ride out
// a node restart or a saturated cluster, whose tries time out one after
// another.
const absentRetryFor = ups.DefaultAsyncRetryFor

// The waits between tries of a background write: doubling from the first
// to the last, each ±50 % (writes refused together are not tried again
// together).
const (
	absentRetryFirst = 50 * time.Millisecond
	absentRetryMax   = 5 * time.Second
)

// BackgroundWrites runs the background writes of decisions whose lookup
// ran out of time, for every Client given it (Options.BackgroundWrites),
// so one bound and one set of counters cover a process whatever its
// datafiles. A write that finds the store unavailable, or whose try runs
// past its deadline, is tried again for up to a minute; beyond the bound
// in flight a decision's write is skipped and counted. Close waits for
// the writes in flight. Safe for concurrent use.
type BackgroundWrites struct {
	slots    chan struct{}
	wg       sync.WaitGroup
	stop     context.Context
	stopNow  context.CancelFunc
	closed   atomic.Bool
	mu       sync.Mutex // orders Close after every wg.Add
	attempt  time.Duration
	retryFor time.Duration

	started, written, failed, skipped atomic.Uint64
}

// BackgroundWriteStats counts a BackgroundWrites' writes.
type BackgroundWriteStats struct {
	// Started writes; Pending of them are not yet done.
	Started, Pending uint64
	// Written: stored (or the store already held an assignment, which
	// then stays). Failed: given up (the store refused it, or stayed
	// unavailable for a minute, or Close ended it). Skipped: not started,
	// the bound in flight was reached or Close had been called.
	Written, Failed, Skipped uint64
}

// NewBackgroundWrites returns a BackgroundWrites with at most max writes
// in flight; 0 means DefaultMaxBackgroundWrites.
func NewBackgroundWrites(max int) *BackgroundWrites {
	if max <= 0 {
		max = DefaultMaxBackgroundWrites
	}
	stop, stopNow := context.WithCancel(context.Background())
	return &BackgroundWrites{
		slots: make(chan struct{}, max), stop: stop, stopNow: stopNow,
		attempt: absentAttemptTimeout, retryFor: absentRetryFor,
	}
}

// Stats returns the counters so far.
func (w *BackgroundWrites) Stats() BackgroundWriteStats {
	s := BackgroundWriteStats{
		Started: w.started.Load(), Written: w.written.Load(),
		Failed: w.failed.Load(), Skipped: w.skipped.Load(),
	}
	if done := s.Written + s.Failed; s.Started > done {
		s.Pending = s.Started - done
	}
	return s
}

// Close stops new writes and waits for those in flight until ctx ends,
// then cancels them (they count as failed) and returns ctx's error. A
// second Close waits again and returns nil once none is left.
func (w *BackgroundWrites) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed.Store(true)
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		w.stopNow()
		<-done
		return ctx.Err()
	}
}

// write writes p's assignments where the user has none, through fw, in
// the background; attempt bounds each try, at least absentAttemptTimeout.
func (w *BackgroundWrites) write(fw ups.FirstWriter, p ups.Profile, attempt time.Duration) {
	w.mu.Lock()
	if w.closed.Load() {
		w.mu.Unlock()
		w.skipped.Add(1)
		return
	}
	select {
	case w.slots <- struct{}{}:
	default:
		w.mu.Unlock()
		w.skipped.Add(1)
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	w.started.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.slots }()
		if w.retry(fw, p, max(attempt, w.attempt)) {
			w.written.Add(1)
		} else {
			w.failed.Add(1)
		}
	}()
}

// retry is write's loop: each try bounded by attempt, all of them by
// retryFor and Close, waits between them from backoff's exponential
// policy. It reports whether the write was done.
func (w *BackgroundWrites) retry(fw ups.FirstWriter, p ups.Profile, attempt time.Duration) bool {
	all, cancel := context.WithTimeout(w.stop, w.retryFor)
	defer cancel()
	try := func() (struct{}, error) {
		ctx, cancelTry := context.WithTimeout(all, attempt)
		defer cancelTry()
		_, err := fw.SaveFirst(ctx, p)
		// A try that ran past its own deadline counts as unavailable too.
		if err != nil && (all.Err() != nil || !ups.Unavailable(err)) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	_, err := backoff.Retry(all, try,
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     absentRetryFirst,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         absentRetryMax,
		}),
		backoff.WithMaxElapsedTime(w.retryFor))
	return err == nil
}

// writeAbsent writes p's assignments where the user has none, in the
// background, if the store can (ups.FirstWriter).
func (c *Client) writeAbsent(p ups.Profile) {
	if c.firstWriter == nil {
		return
	}
	c.background.write(c.firstWriter, p, c.firstBudget)
}
