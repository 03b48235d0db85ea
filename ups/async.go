package ups

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The async saver is in five files:
//
//	async.go         the type, its options and its writes (Save, Delete, SaveFirst, SaveReplacing)
//	asyncqueue.go    each user's ordered queue: coalescing, the bound, the workers
//	asyncoverlay.go  lookups, which see the writes not yet done over the store's answer
//	asyncretry.go    one write to the store, retried while the store is unavailable
//	asynclife.go     Close (drain or abandon) and the counters

// ErrSaveQueueFull is returned by AsyncSaver.Save when the queue is full:
// the store is slower than the decision rate. The assignment is not saved;
// the caller decides whether to count it, retry or save synchronously.
var ErrSaveQueueFull = errors.New("ups: async save queue is full")

// FullPolicy says what AsyncSaver.Save does with a save that finds the
// queue full.
type FullPolicy int

const (
	// FullWaitThenDrop waits up to AsyncOptions.FullWait, and no longer
	// than the caller's context, for a place in the queue; if none frees
	// up the save is dropped with ErrSaveQueueFull. The default: a short
	// burst is absorbed, a store that stays slow does not stall requests.
	FullWaitThenDrop FullPolicy = iota
	// FullWriteThrough writes the save to the next store synchronously,
	// with the caller's context, after whatever of that user is already
	// queued: nothing is dropped, requests slow down to the store's pace.
	FullWriteThrough
	// FullDrop drops the save at once with ErrSaveQueueFull.
	FullDrop
)

// fullPolicies lists every FullPolicy, in the order errors name them.
var fullPolicies = []FullPolicy{FullWaitThenDrop, FullWriteThrough, FullDrop}

// String names the policy as configuration spells it: "wait-then-drop",
// "write-through" or "drop".
func (f FullPolicy) String() string {
	switch f {
	case FullWaitThenDrop:
		return "wait-then-drop"
	case FullWriteThrough:
		return "write-through"
	case FullDrop:
		return "drop"
	default:
		return fmt.Sprintf("FullPolicy(%d)", int(f))
	}
}

// ParseFullPolicy returns the policy that String names name. Its error
// for any other name lists the valid ones.
func ParseFullPolicy(name string) (FullPolicy, error) {
	names := make([]string, len(fullPolicies))
	for i, f := range fullPolicies {
		if f.String() == name {
			return f, nil
		}
		names[i] = f.String()
	}
	return 0, fmt.Errorf("%q is not a full-queue policy: want %s or %s", name, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// Defaults of AsyncOptions. The service's configuration (store.saves)
// defaults to them too.
const (
	DefaultAsyncQueue        = 10_000
	DefaultAsyncWorkers      = 8
	DefaultAsyncTimeout      = 5 * time.Second
	DefaultAsyncRetryFor     = time.Minute
	DefaultAsyncRetryInitial = 100 * time.Millisecond
	DefaultAsyncRetryMax     = 5 * time.Second
	DefaultAsyncOnFull       = FullWaitThenDrop
	DefaultAsyncFullWait     = 20 * time.Millisecond
)

// AsyncOptions configures NewAsyncSaver. The zero value is usable: each
// field left zero takes its DefaultAsync… value.
type AsyncOptions struct {
	// QueueSize bounds how many users may have saves waiting; default
	// DefaultAsyncQueue. Saves of a user already waiting merge into its
	// pending write and need no more room. A user with a write already
	// running or waiting may queue behind it past the bound, so order
	// never depends on room.
	QueueSize int
	// Workers is how many users are written at once, one worker per
	// shard of users; default DefaultAsyncWorkers.
	Workers int
	// Timeout bounds each write attempt; default DefaultAsyncTimeout.
	Timeout time.Duration
	// RetryFor bounds the total time spent retrying a write that failed
	// because the store was unavailable (ups.Unavailable); default
	// DefaultAsyncRetryFor, enough to ride out a node restart. Negative
	// means never retry.
	RetryFor time.Duration
	// RetryInitial is the first wait between attempts; default
	// DefaultAsyncRetryInitial. It doubles (with ±50% jitter) up to
	// RetryMax, default DefaultAsyncRetryMax.
	RetryInitial, RetryMax time.Duration
	// OnFull says what Save does when the queue is full; the zero value
	// is FullWaitThenDrop.
	OnFull FullPolicy
	// FullWait is how long FullWaitThenDrop waits for room; default
	// DefaultAsyncFullWait.
	FullWait time.Duration
	// OnError receives the saves that could not be written: the store
	// rejected them, or kept failing for RetryFor. It is called from a
	// worker goroutine, which waits for it: count or log, do not block.
	// nil drops them silently (they are still counted in Stats().Failed).
	OnError func(Profile, error)
	// Retention is the store's retention. Lookups through the saver show
	// pending assignments with the ExpiresAt the store will give them.
	Retention Retention
	// Now is the clock used to stamp saves when they are accepted; nil
	// means time.Now.
	Now func() time.Time
}

// withDefaults returns o with its zero fields set to their defaults.
func (o AsyncOptions) withDefaults() AsyncOptions {
	setDefault := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultAsyncQueue
	}
	if o.Workers <= 0 {
		o.Workers = DefaultAsyncWorkers
	}
	setDefault(&o.Timeout, DefaultAsyncTimeout)
	if o.RetryFor == 0 {
		o.RetryFor = DefaultAsyncRetryFor
	}
	setDefault(&o.RetryInitial, DefaultAsyncRetryInitial)
	setDefault(&o.RetryMax, DefaultAsyncRetryMax)
	setDefault(&o.FullWait, DefaultAsyncFullWait)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// AsyncSaver takes saves off the request path: Save validates, stamps and
// queues, and workers write to the next store in the background.
//
// What a nil error from Save (an accepted save) promises: the assignments
// are visible at once to lookups through this saver (read-your-writes in
// this process); they are written to the store after every save of the
// same user accepted before them and before every one accepted after them
// (saves of one user waiting together are merged, later assignments
// winning, into one write); a write that fails because the store is
// unavailable is retried with exponential backoff for up to RetryFor; and
// Close waits for them.
//
// What it does not promise: durability. An accepted save is lost if the
// process dies before it is written (those users are bucketed again, to
// the same variation unless the experiment changed meanwhile); if the
// store rejects it or stays unavailable for RetryFor (it then goes to
// OnError and Stats().Failed); if Close's context ends first (Close's
// error counts it); or if a Delete of its user is called before it is
// written (then it is discarded, as Delete promises).
//
// Delete, SaveFirst and SaveReplacing run in the user's order too,
// synchronously for their caller. Close stops the workers; after it returns nothing of the
// saver runs.
type AsyncSaver struct {
	next Service
	// What next offers, resolved once: reads made of Lookup where the
	// store cannot do them, nil writes where it cannot.
	scoped     ScopedLookuper
	assignment AssignmentLookuper
	first      FirstWriter
	replacer   Replacer
	deleter    Deleter

	opts   AsyncOptions
	seed   maphash.Seed
	shards []*shard
	// slots holds one token per user with saves waiting: a semaphore
	// bounding the queue.
	slots chan struct{}

	workers sync.WaitGroup
	// abortCtx is cancelled when Close's context ends: it cancels the
	// writes running, the backoff waits and the callers' ordered calls.
	abortCtx context.Context
	abort    context.CancelFunc
	closeMu  sync.Mutex
	closing  bool        // guarded by closeMu
	closed   atomic.Bool // Close has returned

	accepted, written, coalesced, storeWrites, retried, failed,
	discarded, abandoned, dropped, writtenThrough, depth atomic.Uint64
}

// NewAsyncSaver starts the workers; Close stops them.
func NewAsyncSaver(next Service, opts AsyncOptions) (*AsyncSaver, error) {
	if next == nil {
		return nil, errors.New("ups: new async saver: next service is nil")
	}
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("ups: new async saver: %w", err)
	}
	if !slices.Contains(fullPolicies, opts.OnFull) {
		return nil, fmt.Errorf("ups: new async saver: unknown full-queue policy %s", opts.OnFull)
	}
	opts = opts.withDefaults()
	a := &AsyncSaver{
		next:       next,
		scoped:     ScopedLookuperOf(next),
		assignment: AssignmentLookuperOf(next),
		opts:       opts,
		seed:       maphash.MakeSeed(),
		shards:     make([]*shard, opts.Workers),
		slots:      make(chan struct{}, opts.QueueSize),
	}
	a.first, _ = As[FirstWriter](next)
	a.replacer, _ = As[Replacer](next)
	a.deleter, _ = As[Deleter](next)
	a.abortCtx, a.abort = context.WithCancel(context.Background())
	for i := range a.shards {
		s := &shard{users: map[string]*userState{}, wake: make(chan struct{}, 1)}
		a.shards[i] = s
		a.workers.Go(func() { a.work(s) })
	}
	return a, nil
}

// Unwrap returns the Service the saver writes to.
func (a *AsyncSaver) Unwrap() Service { return a.next }

// Save validates p now, so bad input fails at the caller, and queues a
// stamped copy behind the user's earlier saves, merging it into the one
// still waiting if there is one. When the queue is full, OnFull decides.
func (a *AsyncSaver) Save(ctx context.Context, p Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("ups: async save: %w", err)
	}
	if p.Empty() {
		return nil
	}
	q := a.stamp(p, a.opts.Now())
	s := a.shard(p.UserID)
	haveSlot := false
	for {
		queued, err := a.enqueue(s, q, haveSlot)
		if err != nil || queued {
			return err
		}
		// The queue is full and the user has nothing queued or running.
		switch a.opts.OnFull {
		case FullWriteThrough:
			if err := a.writeThrough(ctx, q); err != nil {
				return err
			}
			a.writtenThrough.Add(1)
			return nil
		case FullWaitThenDrop:
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("ups: async save of user %q: %w", p.UserID, err)
			}
			t := time.NewTimer(a.opts.FullWait)
			select {
			case a.slots <- struct{}{}:
				t.Stop()
				haveSlot = true
				continue
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		a.dropped.Add(1)
		return fmt.Errorf("ups: async save of user %q: %w", p.UserID, ErrSaveQueueFull)
	}
}

// stamp returns the copy of p that is queued, stamped as the store will
// stamp it (Retention.Stamp), so lookups can show it.
func (a *AsyncSaver) stamp(p Profile, now time.Time) Profile {
	out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, len(p.Assignments))}
	for expID, as := range p.Assignments {
		out.Assignments[expID] = a.opts.Retention.Stamp(expID, as, now)
	}
	return out
}

// Delete erases the user in the store, which must be a Deleter (As), in
// the user's order: saves accepted before it and not yet written are
// discarded, one being written finishes first, saves accepted after it
// are written after it. The caller waits for the delete itself. If the
// delete fails, the discarded saves stay discarded: the caller asked for
// the user to be erased, and retries the Delete.
func (a *AsyncSaver) Delete(ctx context.Context, userID string) error {
	if a.deleter == nil {
		return unsupported("async saver", "delete", userID, "Deleter")
	}
	if err := ValidateUserID(userID); err != nil {
		return fmt.Errorf("ups: async saver: delete: %w", err)
	}
	return a.inTurn(ctx, &op{kind: opDelete, p: Profile{UserID: userID}}, func(ctx context.Context) error {
		return a.deleter.Delete(ctx, userID)
	})
}

// SaveFirst runs the store's SaveFirst, which must exist (As), in the
// user's order: after the user's saves accepted before it are written. The
// caller waits for it, since it needs the winners.
func (a *AsyncSaver) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	if a.first == nil {
		return Profile{}, unsupported("async saver", "save first for", p.UserID, "FirstWriter")
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("ups: async saver: save first: %w", err)
	}
	var won Profile
	err := a.inTurn(ctx, &op{kind: opSaveFirst, p: p.Clone()}, func(ctx context.Context) error {
		var err error
		won, err = a.first.SaveFirst(ctx, p)
		return err
	})
	return won, err
}

// SaveReplacing runs the store's SaveReplacing, which must exist (As), in
// the user's order, as SaveFirst: after the user's saves accepted before
// it are written, so what it compares with is what they made of the
// store. The caller waits for it, since it needs the winners.
func (a *AsyncSaver) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	if a.replacer == nil {
		return Profile{}, unsupported("async saver", "save replacing for", p.UserID, "Replacer")
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("ups: async saver: save replacing: %w", err)
	}
	var won Profile
	err := a.inTurn(ctx, &op{kind: opSaveReplacing, p: p.Clone(), was: maps.Clone(was)}, func(ctx context.Context) error {
		var err error
		won, err = a.replacer.SaveReplacing(ctx, p, was)
		return err
	})
	return won, err
}
