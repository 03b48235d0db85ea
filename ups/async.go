package ups

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
)

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

// String names the policy as configuration spells it.
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

// AsyncOptions configures NewAsyncSaver. The zero value is usable.
type AsyncOptions struct {
	// QueueSize bounds how many users may have saves waiting; default
	// 1024. Saves of a user already waiting merge into its pending write
	// and need no more room. A user with a write already running or
	// waiting may queue behind it past the bound, so order never depends
	// on room.
	QueueSize int
	// Workers is how many users are written at once, one worker per
	// shard of users; default 4.
	Workers int
	// Timeout bounds each write attempt; default 5s.
	Timeout time.Duration
	// RetryFor bounds the total time spent retrying a write that failed
	// because the store was unavailable (ups.Unavailable); default 1m,
	// enough to ride out a node restart. Negative means never retry.
	RetryFor time.Duration
	// RetryInitial is the first wait between attempts; default 100ms. It
	// doubles (with ±50% jitter) up to RetryMax, default 5s.
	RetryInitial, RetryMax time.Duration
	// OnFull says what Save does when the queue is full; the zero value
	// is FullWaitThenDrop.
	OnFull FullPolicy
	// FullWait is how long FullWaitThenDrop waits for room; default 20ms.
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
// Flush and Close wait for them.
//
// What it does not promise: durability. An accepted save is lost if the
// process dies before it is written (those users are bucketed again, to
// the same variation unless the experiment changed meanwhile); if the
// store rejects it or stays unavailable for RetryFor (it then goes to
// OnError and Stats().Failed); if Close's context ends first (Close's
// error counts it); or if a Delete of its user is called before it is
// written (then it is discarded, as Delete promises).
//
// Delete and SaveFirst run in the user's order too, synchronously for
// their caller. Close stops the workers; after it returns nothing of the
// saver runs.
type AsyncSaver struct {
	next   Service
	opts   AsyncOptions
	now    func() time.Time
	seed   maphash.Seed
	shards []*shard
	// slots holds one token per user with saves waiting: a semaphore
	// bounding the queue.
	slots chan struct{}
	// epoch is bumped by Flush; every accepted save records the epoch it
	// was accepted in.
	epoch atomic.Uint64

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

var (
	_ Service            = (*AsyncSaver)(nil)
	_ ScopedLookuper     = (*AsyncSaver)(nil)
	_ AssignmentLookuper = (*AsyncSaver)(nil)
	_ Deleter            = (*AsyncSaver)(nil)
	_ FirstWriter        = (*AsyncSaver)(nil)
	_ Closer             = (*AsyncSaver)(nil)
)

// opKind is what an operation of the user's queue does.
type opKind uint8

const (
	opSave         opKind = iota // accepted saves, written by the worker
	opDelete                     // run by its caller in the user's turn
	opSaveFirst                  // run by its caller in the user's turn
	opWriteThrough               // a save run by its caller (full queue)
)

// String names the kind in errors.
func (k opKind) String() string {
	switch k {
	case opSave:
		return "save"
	case opDelete:
		return "delete"
	case opSaveFirst:
		return "save first"
	default:
		return "write-through save"
	}
}

// op is one entry of a user's queue.
type op struct {
	kind opKind
	p    Profile // the assignments, stamped at acceptance
	// saves is how many accepted saves an opSave carries, and epochs how
	// many of them came in each Flush epoch.
	saves  int
	epochs []epochCount
	// turn is closed when a caller-run op may start; handed records it.
	turn   chan struct{}
	handed bool
}

type epochCount struct {
	epoch uint64
	n     int
}

// userState is what the saver holds for one user with work waiting or
// running. It is dropped when the user has neither.
type userState struct {
	id      string
	ops     []*op         // waiting, in acceptance order
	running *op           // taken by the worker or handed to its caller
	elem    *list.Element // in shard.ready while a save of the user waits for the worker
	saves   int           // opSave entries in ops
	slot    bool          // holds a token of AsyncSaver.slots
}

// shard is the users whose ID hashes to one worker.
type shard struct {
	mu    sync.Mutex
	users map[string]*userState
	// ready lists the users whose next op is a save and of whom nothing
	// runs, in the order the worker takes them.
	ready list.List
	// outstanding counts accepted saves not yet finished, by epoch.
	outstanding map[uint64]int
	// progress is closed, and replaced, when outstanding shrinks while
	// flushers wait.
	progress chan struct{}
	flushers int
	// callers counts ops handed to their callers and not finished.
	callers int
	closing bool // no new work; the worker exits when users is empty
	aborted bool // Close's context ended; the worker exits once callers is 0
	wake    chan struct{}
}

// NewAsyncSaver starts the workers; Close stops them.
func NewAsyncSaver(next Service, opts AsyncOptions) (*AsyncSaver, error) {
	if next == nil {
		return nil, errors.New("ups: new async saver: next service is nil")
	}
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("ups: new async saver: %w", err)
	}
	switch opts.OnFull {
	case FullWaitThenDrop, FullWriteThrough, FullDrop:
	default:
		return nil, fmt.Errorf("ups: new async saver: unknown full-queue policy %s", opts.OnFull)
	}
	setDefault := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	setDefault(&opts.Timeout, 5*time.Second)
	if opts.RetryFor == 0 {
		opts.RetryFor = time.Minute
	}
	setDefault(&opts.RetryInitial, 100*time.Millisecond)
	setDefault(&opts.RetryMax, 5*time.Second)
	setDefault(&opts.FullWait, 20*time.Millisecond)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	a := &AsyncSaver{
		next:   next,
		opts:   opts,
		now:    now,
		seed:   maphash.MakeSeed(),
		shards: make([]*shard, opts.Workers),
		slots:  make(chan struct{}, opts.QueueSize),
	}
	a.abortCtx, a.abort = context.WithCancel(context.Background())
	for i := range a.shards {
		s := &shard{
			users:       map[string]*userState{},
			outstanding: map[uint64]int{},
			progress:    make(chan struct{}),
			wake:        make(chan struct{}, 1),
		}
		a.shards[i] = s
		a.workers.Go(func() { a.work(s) })
	}
	return a, nil
}

func (a *AsyncSaver) shard(userID string) *shard {
	return a.shards[maphash.String(a.seed, userID)%uint64(len(a.shards))]
}

// signal wakes the shard's worker. Call with s.mu held or not.
func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work is one shard's worker: it writes the saves of the users in ready,
// one at a time, until the saver is closed and drained or aborted.
func (a *AsyncSaver) work(s *shard) {
	for {
		s.mu.Lock()
		switch {
		case s.aborted:
			if s.callers == 0 {
				s.mu.Unlock()
				return
			}
		case s.ready.Len() > 0:
			u, o := a.take(s)
			s.mu.Unlock()
			err := a.write(o)
			end := written
			if err != nil {
				end = failed
				if a.abortCtx.Err() != nil {
					end = abandoned
				}
			}
			if end == failed && a.opts.OnError != nil {
				// Before settling, so Flush returns only once it was told.
				a.opts.OnError(o.p, err)
			}
			s.mu.Lock()
			a.settle(s, o, end)
			u.running = nil
			a.dispatch(s, u)
			s.mu.Unlock()
			continue
		case s.closing && len(s.users) == 0:
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		<-s.wake
	}
}

// take removes the first ready user's first op, a save, and marks it
// running. s.mu is held.
func (a *AsyncSaver) take(s *shard) (*userState, *op) {
	u := s.ready.Remove(s.ready.Front()).(*userState)
	u.elem = nil
	o := u.ops[0]
	u.ops = u.ops[1:]
	u.saves--
	a.releaseSlotIfIdle(u)
	u.running = o
	return u, o
}

// releaseSlotIfIdle gives back the user's queue token once no save of it
// waits. s.mu is held.
func (a *AsyncSaver) releaseSlotIfIdle(u *userState) {
	if u.saves == 0 && u.slot {
		u.slot = false
		a.depth.Add(^uint64(0))
		<-a.slots
	}
}

// write writes one op to the store, retrying while the store is
// unavailable.
func (a *AsyncSaver) write(o *op) error {
	var last error
	attempt := func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(a.abortCtx, a.opts.Timeout)
		defer cancel()
		a.storeWrites.Add(1)
		err := a.next.Save(ctx, o.p)
		if err == nil {
			return struct{}{}, nil
		}
		last = err
		if !Unavailable(err) || a.abortCtx.Err() != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	retry := []backoff.RetryOption{
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     a.opts.RetryInitial,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         a.opts.RetryMax,
		}),
		backoff.WithNotify(func(error, time.Duration) { a.retried.Add(1) }),
	}
	if a.opts.RetryFor < 0 {
		retry = append(retry, backoff.WithMaxTries(1))
	} else {
		retry = append(retry, backoff.WithMaxElapsedTime(a.opts.RetryFor))
	}
	if _, err := backoff.Retry(a.abortCtx, attempt, retry...); err != nil {
		if last == nil {
			last = err
		}
		return fmt.Errorf("ups: async save of user %q (%d assignments): %w", o.p.UserID, len(o.p.Assignments), last)
	}
	return nil
}

// outcome is how an opSave ended.
type outcome uint8

const (
	written   outcome = iota // in the store
	failed                   // rejected, or retried in vain
	discarded                // a later Delete of the user made it moot
	abandoned                // Close's context ended first
)

// settle accounts for an opSave that ended. s.mu is held.
func (a *AsyncSaver) settle(s *shard, o *op, end outcome) {
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
	for _, ec := range o.epochs {
		if s.outstanding[ec.epoch] -= ec.n; s.outstanding[ec.epoch] <= 0 {
			delete(s.outstanding, ec.epoch)
		}
	}
	if s.flushers > 0 {
		close(s.progress)
		s.progress = make(chan struct{})
	}
}

// dispatch starts the user's next op if nothing of the user runs: a save
// is listed for the worker, a caller-run op is handed to its caller. A
// user with nothing left is forgotten. s.mu is held.
func (a *AsyncSaver) dispatch(s *shard, u *userState) {
	if u.running != nil {
		return
	}
	if len(u.ops) == 0 {
		if u.elem != nil {
			s.ready.Remove(u.elem)
			u.elem = nil
		}
		delete(s.users, u.id)
		s.signal() // a closing worker may be waiting for the last user
		return
	}
	head := u.ops[0]
	if head.kind == opSave {
		if u.elem == nil {
			if callerWaits(u.ops) {
				// A Delete or SaveFirst caller waits behind these saves.
				u.elem = s.ready.PushFront(u)
			} else {
				u.elem = s.ready.PushBack(u)
			}
			s.signal()
		}
		return
	}
	if s.aborted {
		return // the waiting callers give up on their own
	}
	if u.elem != nil {
		s.ready.Remove(u.elem)
		u.elem = nil
	}
	u.ops = u.ops[1:]
	u.running = head
	head.handed = true
	s.callers++
	close(head.turn)
}

// stamp returns the copy of p that is queued: DecidedAt set to now unless
// given, ExpiresAt to what the store will give, so lookups can show it.
func (a *AsyncSaver) stamp(p Profile, now time.Time) Profile {
	out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, len(p.Assignments))}
	for expID, as := range p.Assignments {
		rec := Assignment{VariationID: as.VariationID, DecidedAt: as.DecidedAt}
		if rec.DecidedAt.IsZero() {
			rec.DecidedAt = now
		}
		if d := a.opts.Retention.For(expID); d > 0 {
			rec.ExpiresAt = now.Add(d)
		}
		out.Assignments[expID] = rec
	}
	return out
}

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
	q := a.stamp(p, a.now())
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

// enqueue queues q, merging it into the user's waiting save if any. It
// reports false, with no error, when the queue is full and the user has
// nothing queued or running; haveSlot says the caller already holds a
// token, which enqueue then uses or gives back.
func (a *AsyncSaver) enqueue(s *shard, q Profile, haveSlot bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	release := func() {
		if haveSlot {
			<-a.slots
		}
	}
	if s.closing {
		release()
		return false, fmt.Errorf("ups: async save of user %q: %w", q.UserID, ErrClosed)
	}
	epoch := a.epoch.Load()
	u := s.users[q.UserID]
	if u != nil && len(u.ops) > 0 && u.ops[len(u.ops)-1].kind == opSave {
		release()
		last := u.ops[len(u.ops)-1]
		for expID, as := range q.Assignments {
			last.p.Assignments[expID] = as
		}
		last.saves++
		last.addEpoch(epoch)
		s.outstanding[epoch]++
		a.accepted.Add(1)
		a.coalesced.Add(1)
		return true, nil
	}
	slot := haveSlot || (u != nil && u.slot)
	if !slot {
		select {
		case a.slots <- struct{}{}:
			slot = true
		default:
		}
	}
	if !slot && u == nil {
		return false, nil
	}
	if u == nil {
		u = &userState{id: q.UserID}
		s.users[q.UserID] = u
	}
	if slot && !u.slot {
		u.slot = true
		a.depth.Add(1)
	} else if haveSlot {
		<-a.slots // the user already held one
	}
	o := &op{kind: opSave, p: q, saves: 1}
	o.addEpoch(epoch)
	u.ops = append(u.ops, o)
	u.saves++
	s.outstanding[epoch]++
	a.accepted.Add(1)
	a.dispatch(s, u)
	return true, nil
}

func (o *op) addEpoch(e uint64) {
	if n := len(o.epochs); n > 0 && o.epochs[n-1].epoch == e {
		o.epochs[n-1].n++
		return
	}
	o.epochs = append(o.epochs, epochCount{epoch: e, n: 1})
}

// writeThrough writes q synchronously, in the user's order.
func (a *AsyncSaver) writeThrough(ctx context.Context, q Profile) error {
	return a.inTurn(ctx, opWriteThrough, q, func(ctx context.Context) error {
		return a.next.Save(ctx, q)
	})
}

// inTurn queues a caller-run op in the user's order, waits for its turn
// and runs it with the caller's context, which Close's deadline also
// cancels. A Delete first discards the user's saves still waiting.
func (a *AsyncSaver) inTurn(ctx context.Context, kind opKind, p Profile, run func(context.Context) error) error {
	what := kind.String()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ups: async saver: %s of user %q: %w", what, p.UserID, err)
	}
	s := a.shard(p.UserID)
	o := &op{kind: kind, p: p, turn: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return fmt.Errorf("ups: async saver: %s of user %q: %w", what, p.UserID, ErrClosed)
	}
	u := s.users[p.UserID]
	if u == nil {
		u = &userState{id: p.UserID}
		s.users[p.UserID] = u
	}
	if kind == opDelete {
		a.discardSaves(s, u)
	}
	u.ops = append(u.ops, o)
	if u.elem != nil {
		s.ready.MoveToFront(u.elem) // the caller waits for the saves ahead
	}
	a.dispatch(s, u)
	s.mu.Unlock()

	select {
	case <-o.turn:
	case <-ctx.Done():
		a.leave(s, u, o)
		return fmt.Errorf("ups: async saver: %s of user %q: waiting for the user's earlier writes: %w", what, p.UserID, ctx.Err())
	case <-a.abortCtx.Done():
		a.leave(s, u, o)
		return fmt.Errorf("ups: async saver: %s of user %q: closed before it ran: %w", what, p.UserID, ErrClosed)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.abortCtx, cancel)
	err := run(runCtx)
	stop()
	cancel()
	a.leave(s, u, o)
	return err
}

// leave ends a caller-run op: it gives the user's turn on if the op had
// it, or takes the op out of the queue if it never ran.
func (a *AsyncSaver) leave(s *shard, u *userState, o *op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.handed {
		u.running = nil
		s.callers--
		s.signal()
	} else if i := indexOf(u.ops, o); i >= 0 {
		u.ops = append(u.ops[:i:i], u.ops[i+1:]...)
	}
	a.dispatch(s, u)
}

// callerWaits reports whether a caller-run op is among ops.
func callerWaits(ops []*op) bool {
	for _, o := range ops {
		if o.kind != opSave {
			return true
		}
	}
	return false
}

func indexOf(ops []*op, o *op) int {
	for i, x := range ops {
		if x == o {
			return i
		}
	}
	return -1
}

// discardSaves drops the user's waiting saves. s.mu is held.
func (a *AsyncSaver) discardSaves(s *shard, u *userState) {
	kept := u.ops[:0:0]
	for _, o := range u.ops {
		if o.kind == opSave {
			a.settle(s, o, discarded)
			continue
		}
		kept = append(kept, o)
	}
	u.ops = kept
	u.saves = 0
	a.releaseSlotIfIdle(u)
}

// Delete erases the user in the next store, which must be a Deleter, in
// the user's order: saves accepted before it and not yet written are
// discarded, one being written finishes first, saves accepted after it
// are written after it. The caller waits for the delete itself. If the
// delete fails, the discarded saves stay discarded: the caller asked for
// the user to be erased, and retries the Delete.
func (a *AsyncSaver) Delete(ctx context.Context, userID string) error {
	d, ok := a.next.(Deleter)
	if !ok {
		return fmt.Errorf("ups: async saver: delete user %q: %T is not a Deleter", userID, a.next)
	}
	if err := ValidateUserID(userID); err != nil {
		return fmt.Errorf("ups: async saver: delete: %w", err)
	}
	return a.inTurn(ctx, opDelete, Profile{UserID: userID}, func(ctx context.Context) error {
		return d.Delete(ctx, userID)
	})
}

// SaveFirst runs the next store's SaveFirst, which must exist, in the
// user's order: after the user's saves accepted before it are written.
// The caller waits for it, since it needs the winners.
func (a *AsyncSaver) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	fw, ok := a.next.(FirstWriter)
	if !ok {
		return Profile{}, fmt.Errorf("ups: async saver: save first for user %q: %T is not a FirstWriter", p.UserID, a.next)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("ups: async saver: save first: %w", err)
	}
	var won Profile
	err := a.inTurn(ctx, opSaveFirst, p.Clone(), func(ctx context.Context) error {
		var err error
		won, err = fw.SaveFirst(ctx, p)
		return err
	})
	return won, err
}

// overlay is what the user's queued and running writes will make of the
// store's answer.
type overlay struct {
	reset bool                  // a Delete comes first: the store's answer is void
	set   map[string]Assignment // assignments to show over it
}

// overlayOf snapshots the user's writes not yet done; ok is false when
// there are none.
func (a *AsyncSaver) overlayOf(userID string) (overlay, bool) {
	s := a.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		return overlay{}, false
	}
	ov := overlay{set: map[string]Assignment{}}
	apply := func(o *op) {
		switch o.kind {
		case opDelete:
			ov.reset = true
			clear(ov.set)
		case opSave, opWriteThrough:
			for expID, as := range o.p.Assignments {
				ov.set[expID] = as
			}
		case opSaveFirst:
			// Its outcome is known only where the experiment is known to
			// be free (deleted) or taken (queued before it).
			if ov.reset {
				for expID, as := range o.p.Assignments {
					if _, taken := ov.set[expID]; !taken {
						ov.set[expID] = as
					}
				}
			}
		}
	}
	if u.running != nil {
		apply(u.running)
	}
	for _, o := range u.ops {
		apply(o)
	}
	return ov, true
}

// apply lays the overlay over the store's answer p, keeping what is live.
func (ov overlay) apply(p *Profile, now time.Time) {
	if ov.reset {
		p.Assignments = map[string]Assignment{}
	}
	if p.Assignments == nil {
		p.Assignments = map[string]Assignment{}
	}
	for expID, as := range ov.set {
		if live(as, now) {
			p.Assignments[expID] = as
		}
	}
}

func (a *AsyncSaver) checkOpen(userID string) error {
	if a.closed.Load() {
		return fmt.Errorf("ups: async saver: lookup user %q: %w", userID, ErrClosed)
	}
	return nil
}

// Lookup reads from the next store and shows over it this process's saves
// of the user not yet written, and hides what a pending Delete erases.
func (a *AsyncSaver) Lookup(ctx context.Context, userID string) (Profile, error) {
	if err := a.checkOpen(userID); err != nil {
		return Profile{}, err
	}
	ov, pending := a.overlayOf(userID)
	if pending && ov.reset {
		if err := ValidateUserID(userID); err != nil {
			return Profile{}, fmt.Errorf("ups: async saver: lookup: %w", err)
		}
		p := Profile{UserID: userID}
		ov.apply(&p, a.now())
		return p, nil
	}
	p, err := a.next.Lookup(ctx, userID)
	if err != nil || !pending {
		return p, err
	}
	ov.apply(&p, a.now())
	return p, nil
}

// LookupExperiments reads through to the next store, scoped if it can
// be, and shows the pending saves of those experiments over it.
func (a *AsyncSaver) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	if err := a.checkOpen(userID); err != nil {
		return Profile{}, err
	}
	ov, pending := a.overlayOf(userID)
	var p Profile
	if pending && ov.reset {
		if err := ValidateUserID(userID); err != nil {
			return Profile{}, fmt.Errorf("ups: async saver: lookup: %w", err)
		}
		p = Profile{UserID: userID}
	} else {
		var err error
		if p, err = lookupExperiments(ctx, a.next, userID, experimentIDs); err != nil {
			return Profile{}, err
		}
	}
	if !pending {
		return p, nil
	}
	now := a.now()
	ov.apply(&p, now)
	return p.subset(experimentIDs, now), nil
}

// LookupAssignment reads one assignment through, or shows the pending
// one.
func (a *AsyncSaver) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	if err := a.checkOpen(userID); err != nil {
		return Assignment{}, false, err
	}
	ov, pending := a.overlayOf(userID)
	if pending {
		if as, ok := ov.set[experimentID]; ok {
			if !live(as, a.now()) {
				return Assignment{}, false, nil
			}
			return as, true, nil
		}
		if ov.reset {
			return Assignment{}, false, ValidateUserID(userID)
		}
	}
	return lookupAssignment(ctx, a.next, userID, experimentID)
}

// lookupExperiments asks next for some experiments, scoped if it can.
func lookupExperiments(ctx context.Context, next Service, userID string, ids []string) (Profile, error) {
	if sl, ok := next.(ScopedLookuper); ok {
		return sl.LookupExperiments(ctx, userID, ids)
	}
	p, err := next.Lookup(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	return p.subset(ids, time.Now()), nil
}

// lookupAssignment asks next for one assignment, directly if it can.
func lookupAssignment(ctx context.Context, next Service, userID, expID string) (Assignment, bool, error) {
	if al, ok := next.(AssignmentLookuper); ok {
		return al.LookupAssignment(ctx, userID, expID)
	}
	p, err := next.Lookup(ctx, userID)
	if err != nil {
		return Assignment{}, false, err
	}
	as, ok := p.Assignments[expID]
	if !ok || !live(as, time.Now()) {
		return Assignment{}, false, nil
	}
	return as, true, nil
}

// Flush waits until every save accepted before the call is written or
// has failed (and OnError has returned for it), or ctx ends: then its error says how many are still
// pending.
func (a *AsyncSaver) Flush(ctx context.Context) error {
	if a.closed.Load() {
		return fmt.Errorf("ups: async saver: flush: %w", ErrClosed)
	}
	upTo := a.epoch.Add(1) - 1 // saves accepted from now on are not waited for
	for _, s := range a.shards {
		for {
			s.mu.Lock()
			if s.pendingUpTo(upTo) == 0 {
				s.mu.Unlock()
				break
			}
			s.flushers++
			progress := s.progress
			s.mu.Unlock()
			var err error
			select {
			case <-progress:
			case <-ctx.Done():
				err = ctx.Err()
			case <-a.abortCtx.Done():
				err = ErrClosed
			}
			s.mu.Lock()
			s.flushers--
			s.mu.Unlock()
			if err != nil {
				n := 0
				for _, s := range a.shards {
					s.mu.Lock()
					n += s.pendingUpTo(upTo)
					s.mu.Unlock()
				}
				return fmt.Errorf("ups: async saver: flush: %d saves accepted before it still pending: %w", n, err)
			}
		}
	}
	return nil
}

// pendingUpTo counts outstanding saves accepted in epochs up to e. s.mu
// is held.
func (s *shard) pendingUpTo(e uint64) int {
	n := 0
	for epoch, k := range s.outstanding {
		if epoch <= e {
			n += k
		}
	}
	return n
}

// Close stops accepting work (later calls fail with ErrClosed) and waits
// until everything accepted is written or has failed. If ctx ends first it
// cancels the writes still running, waits until no worker runs, and
// returns an error, wrapping ctx's, that says how many accepted saves were
// not written. After Close returns nothing of the saver runs. Then it
// closes the next Service if it is a Closer.
func (a *AsyncSaver) Close(ctx context.Context) error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if a.closing {
		return fmt.Errorf("ups: async saver: close: %w", ErrClosed)
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
		for _, s := range a.shards {
			s.mu.Lock()
			s.aborted = true
			s.mu.Unlock()
		}
		a.abort()
		for _, s := range a.shards {
			s.signal()
		}
		<-done
		before := a.abandoned.Load()
		for _, s := range a.shards {
			s.mu.Lock()
			for _, u := range s.users {
				for _, o := range u.ops {
					if o.kind == opSave {
						a.settle(s, o, abandoned)
					}
				}
				u.ops, u.saves = nil, 0
				a.releaseSlotIfIdle(u)
			}
			clear(s.users)
			s.ready.Init()
			s.mu.Unlock()
		}
		// Every abandoned save was counted at this Close: before it, the
		// saver never aborts.
		if n := a.abandoned.Load(); n > 0 {
			errs = append(errs, fmt.Errorf("ups: close async saver: %d accepted saves not written (%d cancelled while being written, %d still queued): %w", n, before, n-before, ctx.Err()))
		}
	}
	a.abort()
	a.closed.Store(true)
	if cl, ok := a.next.(Closer); ok {
		if err := cl.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ups: async saver: close next: %w", err))
		}
	}
	return errors.Join(errs...)
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
