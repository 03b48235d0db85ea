package ups

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Close drains the saver, or gives up when its context ends; the counters
// say what became of every accepted save.

// AsyncStats counts what an AsyncSaver did since it was made. For saves
// accepted so far, Accepted = Written + Failed + Discarded + Abandoned +
// Pending.
type AsyncStats struct {
	// Accepted saves are those Save returned nil for.
	Accepted uint64
	// Written accepted saves reached the store.
	Written uint64
	// Coalesced accepted saves were merged into a pending write of the
	// same user (they are also counted as accepted, and then as written,
	// failed, …, with that write).
	Coalesced uint64
	// StoreWrites counts write attempts on the next store, retries
	// included.
	StoreWrites uint64
	// Retried counts write attempts beyond the first.
	Retried uint64
	// Failed accepted saves were given up: rejected by the store, or
	// retried for RetryFor in vain. OnError saw them.
	Failed uint64
	// Discarded accepted saves were dropped unwritten because a Delete of
	// their user came after them.
	Discarded uint64
	// Abandoned accepted saves were not written because Close's context
	// ended first.
	Abandoned uint64
	// Dropped saves found the queue full and were not accepted.
	Dropped uint64
	// WrittenThrough saves found the queue full and were written
	// synchronously (FullWriteThrough); they are not counted as accepted.
	WrittenThrough uint64
	// Pending accepted saves are waiting or being written.
	Pending uint64
	// QueueDepth is how many users have saves waiting for a worker.
	QueueDepth uint64
}

// outcome is how an opSave ended.
type outcome uint8

const (
	written   outcome = iota // in the store
	failed                   // rejected, or retried in vain
	discarded                // a later Delete of the user made it moot
	abandoned                // Close's context ended first
)

// settle counts an opSave that ended, once: a write Close gave up on while
// it was stuck in the store is counted as abandoned then, and not again
// when the store returns. Its shard's mu is held.
func (a *AsyncSaver) settle(o *op, end outcome) {
	if o.settled {
		return
	}
	o.settled = true
	n := uint64(o.saves)
	switch end {
	case written:
		a.written.Add(n)
	case failed:
		a.failed.Add(n)
	case discarded:
		a.discarded.Add(n)
	case abandoned:
		a.abandoned.Add(n)
	}
}

// Stats returns the saver's counters.
func (a *AsyncSaver) Stats() AsyncStats {
	st := AsyncStats{
		Accepted:       a.accepted.Load(),
		Written:        a.written.Load(),
		Coalesced:      a.coalesced.Load(),
		StoreWrites:    a.storeWrites.Load(),
		Retried:        a.retried.Load(),
		Failed:         a.failed.Load(),
		Discarded:      a.discarded.Load(),
		Abandoned:      a.abandoned.Load(),
		Dropped:        a.dropped.Load(),
		WrittenThrough: a.writtenThrough.Load(),
		QueueDepth:     a.depth.Load(),
	}
	if done := st.Written + st.Failed + st.Discarded + st.Abandoned; st.Accepted > done {
		st.Pending = st.Accepted - done
	}
	return st
}

// Close stops accepting work (later calls fail with ErrClosed) and waits
// until everything accepted is written or has failed. If ctx ends first it
// cancels the writes still running, waits (at most stuckGrace) until no
// worker runs, and returns an error, wrapping ctx's, that says how many
// accepted saves were not written. After Close returns nothing of the
// saver runs, but for a write stuck in a store that does not honour its
// context: Close does not wait for it (it is counted as abandoned, and its
// goroutine ends when the store returns). Then it closes the next Service
// if it is a Closer.
//
// A second Close does nothing and returns nil; one called while the first
// runs returns when the first has.
func (a *AsyncSaver) Close(ctx context.Context) error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if a.closing {
		return nil
	}
	a.closing = true
	for _, s := range a.shards {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.signal()
	}
	done := make(chan struct{})
	go func() {
		a.workers.Wait()
		close(done)
	}()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		if err := a.abandon(done, ctx.Err()); err != nil {
			errs = append(errs, err)
		}
	}
	a.abort()
	a.closed.Store(true)
	if err := Close(ctx, a.next); err != nil {
		errs = append(errs, fmt.Errorf("ups: async saver: close next: %w", err))
	}
	return errors.Join(errs...)
}

// abandon gives up on the work left when Close's context ended with
// cause: it cancels the writes running and the callers waiting for their
// turn, waits until the workers are done (done closes), counts every save
// not written as abandoned and says how many there were.
func (a *AsyncSaver) abandon(done <-chan struct{}, cause error) error {
	for _, s := range a.shards {
		s.mu.Lock()
		s.aborted = true
		s.mu.Unlock()
	}
	a.abort()
	for _, s := range a.shards {
		s.signal()
	}
	timer := time.NewTimer(stuckGrace)
	defer timer.Stop()
	stuck := false
	select {
	case <-done:
	case <-timer.C:
		stuck = true // a write ignores its cancelled context
	}
	before := a.abandoned.Load()
	var inStore uint64
	for _, s := range a.shards {
		s.mu.Lock()
		for _, u := range s.users {
			if o := u.running; stuck && o != nil && o.kind == opSave && !o.settled {
				inStore += uint64(o.saves)
				a.settle(o, abandoned)
			}
			for _, o := range u.ops {
				if o.kind == opSave {
					a.settle(o, abandoned)
				}
			}
			u.ops, u.saves = nil, 0
			a.releaseSlotIfIdle(u)
		}
		clear(s.users)
		s.ready.Init()
		s.mu.Unlock()
	}
	// Every abandoned save was counted here: before it, the saver never
	// aborts.
	if n := a.abandoned.Load(); n > 0 {
		msg := fmt.Sprintf("%d cancelled while being written, %d still queued", before, n-before-inStore)
		if inStore > 0 {
			msg += fmt.Sprintf(", %d stuck in a store that did not return when cancelled", inStore)
		}
		return fmt.Errorf("ups: close async saver: %d accepted saves not written (%s): %w", n, msg, cause)
	}
	return nil
}

// stuckGrace is how long Close, once its context ended and the writes
// were cancelled, waits for them to return: a store that honours its
// context returns at once; one that does not is left behind.
const stuckGrace = 100 * time.Millisecond
