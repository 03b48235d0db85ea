package ups

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrSaveQueueFull is returned by AsyncSaver.Save when the queue is full:
// the store is slower than the decision rate. The assignment is not saved;
// the caller decides whether to count it, retry or save synchronously.
var ErrSaveQueueFull = errors.New("ups: async save queue is full")

// AsyncOptions configures NewAsyncSaver.
type AsyncOptions struct {
	// QueueSize bounds the saves waiting for a worker; default 1024.
	QueueSize int
	// Workers is how many saves run at once; default 4.
	Workers int
	// Timeout bounds each save; default 5s.
	Timeout time.Duration
	// OnError receives saves that failed, from a worker goroutine. Use it
	// to count or log them; nil drops them silently.
	OnError func(Profile, error)
}

// AsyncSaver takes saves off the request path: Save validates and queues,
// and workers write to the next store in the background. Lookups go
// straight through. A decision is served before its assignment is durable,
// so a crash can lose queued assignments; those users are re-bucketed to
// the same variation unless the experiment changed meanwhile.
type AsyncSaver struct {
	next    Service
	opts    AsyncOptions
	queue   chan Profile
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	workers sync.WaitGroup
}

var _ Service = (*AsyncSaver)(nil)

// NewAsyncSaver starts the workers; Close stops them.
func NewAsyncSaver(next Service, opts AsyncOptions) (*AsyncSaver, error) {
	if next == nil {
		return nil, errors.New("ups: new async saver: next service is nil")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	a := &AsyncSaver{next: next, opts: opts, queue: make(chan Profile, opts.QueueSize)}
	for range opts.Workers {
		a.workers.Go(a.work)
	}
	return a, nil
}

func (a *AsyncSaver) work() {
	for p := range a.queue {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
		err := a.next.Save(ctx, p)
		cancel()
		if err != nil && a.opts.OnError != nil {
			a.opts.OnError(p, err)
		}
	}
}

// Lookup reads from the next store. A save still queued is not visible.
func (a *AsyncSaver) Lookup(ctx context.Context, userID string) (Profile, error) {
	return a.next.Lookup(ctx, userID)
}

var _ ScopedLookuper = (*AsyncSaver)(nil)

// LookupExperiments reads through to the next store, scoped if it can be.
func (a *AsyncSaver) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	if sl, ok := a.next.(ScopedLookuper); ok {
		return sl.LookupExperiments(ctx, userID, experimentIDs)
	}
	p, err := a.next.Lookup(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	return p.subset(experimentIDs, time.Now()), nil
}

// Save validates p now, so bad input fails at the caller, and queues a copy
// without blocking.
func (a *AsyncSaver) Save(ctx context.Context, p Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("ups: save: %w", err)
	}
	if p.Empty() {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return fmt.Errorf("save user %q: %w", p.UserID, ErrClosed)
	}
	select {
	case a.queue <- p.Clone():
		return nil
	default:
		return fmt.Errorf("save user %q: %w", p.UserID, ErrSaveQueueFull)
	}
}

// Close stops accepting saves and waits until the queued ones are written
// or ctx ends.
func (a *AsyncSaver) Close(ctx context.Context) error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ups: close async saver: %d saves still queued: %w", len(a.queue), ctx.Err())
	}
}
