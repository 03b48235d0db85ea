package ups

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrCircuitOpen is returned at once by a Breaker whose store is deemed
// down. It wraps ErrUnavailable, so Unavailable(err) is true and callers
// treat it as they treat the store failing.
var ErrCircuitOpen = fmt.Errorf("ups: circuit breaker open: %w", ErrUnavailable)

// BreakerOptions configures NewBreaker. The zero value is usable.
type BreakerOptions struct {
	// Failures is how many consecutive calls failing with an unavailable
	// store open the breaker; default 5. A store that says it cannot serve
	// (no replicas, connection refused, node down) counts at once. A call
	// that ran out of time (TimedOut: the store's timeout or the caller's
	// deadline) counts only once the store has answered no call for
	// UnansweredFor: a store that answers, however slowly, never opens the
	// breaker. Invalid input and a caller's cancellation count neither way.
	Failures int
	// UnansweredFor is how long the store must have answered no call
	// before timeouts count as failures; default 2s.
	UnansweredFor time.Duration
	// OpenFor is how long the breaker stays open, failing calls at once,
	// before it lets probes through; default 5s.
	OpenFor time.Duration
	// Probes is how many calls the half-open breaker lets through; if
	// they all succeed it closes, the first one failing opens it again.
	// Default 3.
	Probes int
	// Now is the clock of UnansweredFor; nil means time.Now. (OpenFor runs
	// on the wall clock.)
	Now func() time.Time
}

// BreakerState is where a Breaker stands.
type BreakerState int

const (
	// BreakerClosed passes every call through: the store is healthy.
	BreakerClosed BreakerState = iota
	// BreakerOpen fails every call at once with ErrCircuitOpen.
	BreakerOpen
	// BreakerHalfOpen lets a few probe calls through and fails the rest.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	default:
		return fmt.Sprintf("BreakerState(%d)", int(s))
	}
}

// Health is what a Breaker knows of its store, for health endpoints and
// metrics.
type Health struct {
	State BreakerState
	// Since is when the breaker entered State.
	Since time.Time
	// ConsecutiveFailures counts calls in a row that found the store
	// unavailable; a success resets it. Calls refused by the open breaker
	// do not count.
	ConsecutiveFailures int
	// LastError is the last unavailable error the store returned, at
	// LastErrorAt; nil if none yet.
	LastError   error
	LastErrorAt time.Time
	// Rejected counts calls refused with ErrCircuitOpen since the
	// breaker was made.
	Rejected uint64
}

// Breaker is a layer that fails fast while its store is down: after
// Failures consecutive unavailable errors it opens and answers every call
// with ErrCircuitOpen for OpenFor, then lets Probes calls through to see
// whether the store is back. Requests then fail in microseconds instead of
// each waiting for a timeout, and the store gets room to recover.
type Breaker struct {
	next Service
	// What next offers, resolved once: reads made of Lookup where the
	// store cannot do them, nil writes where it cannot.
	scoped     ScopedLookuper
	assignment AssignmentLookuper
	first      FirstWriter
	replacer   Replacer
	deleter    Deleter
	cb         *gobreaker.CircuitBreaker[struct{}]
	openFor    time.Duration
	unanswered time.Duration
	now        func() time.Time
	closed     atomic.Bool
	// answered is when the store last answered a call (UnixNano by now).
	answered atomic.Int64

	mu          sync.Mutex
	state       BreakerState
	since       time.Time
	consecutive int
	lastErr     error
	lastErrAt   time.Time
	rejected    atomic.Uint64
}

// NewBreaker wraps next.
func NewBreaker(next Service, opts BreakerOptions) (*Breaker, error) {
	if next == nil {
		return nil, errors.New("ups: new breaker: next service is nil")
	}
	if opts.Failures < 0 || opts.Probes < 0 || opts.OpenFor < 0 || opts.UnansweredFor < 0 {
		return nil, fmt.Errorf("ups: new breaker: negative option in %+v", opts)
	}
	if opts.Failures == 0 {
		opts.Failures = 5
	}
	if opts.OpenFor == 0 {
		opts.OpenFor = 5 * time.Second
	}
	if opts.Probes == 0 {
		opts.Probes = 3
	}
	if opts.UnansweredFor == 0 {
		opts.UnansweredFor = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Breaker{
		next:       next,
		scoped:     ScopedLookuperOf(next),
		assignment: AssignmentLookuperOf(next),
		openFor:    opts.OpenFor,
		unanswered: opts.UnansweredFor,
		now:        opts.Now,
		state:      BreakerClosed,
		since:      time.Now(),
	}
	b.first, _ = As[FirstWriter](next)
	b.replacer, _ = As[Replacer](next)
	b.deleter, _ = As[Deleter](next)
	b.answered.Store(opts.Now().UnixNano())
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "ups",
		MaxRequests: uint32(opts.Probes),
		Timeout:     opts.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(opts.Failures)
		},
		IsExcluded:    func(err error) bool { return errors.As(err, new(uncounted)) },
		OnStateChange: b.changed,
	})
	return b, nil
}

// Unwrap returns the Service the breaker wraps.
func (b *Breaker) Unwrap() Service { return b.next }

// changed records a transition. gobreaker calls it with its own lock held,
// so it must not call back into b.cb.
func (b *Breaker) changed(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if from == gobreaker.StateOpen && to == gobreaker.StateHalfOpen {
		// gobreaker moves to half-open when it is next asked, not when
		// OpenFor ends; date it from when it could first probe.
		now = b.since.Add(b.openFor)
	}
	switch to {
	case gobreaker.StateOpen:
		b.state = BreakerOpen
	case gobreaker.StateHalfOpen:
		b.state = BreakerHalfOpen
	default:
		b.state = BreakerClosed
	}
	b.since = now
}

// Health returns the breaker's state and what it saw last.
func (b *Breaker) Health() Health {
	b.cb.State() // let an open breaker whose OpenFor passed turn half-open
	b.mu.Lock()
	defer b.mu.Unlock()
	return Health{
		State:               b.state,
		Since:               b.since,
		ConsecutiveFailures: b.consecutive,
		LastError:           b.lastErr,
		LastErrorAt:         b.lastErrAt,
		Rejected:            b.rejected.Load(),
	}
}

// do runs call through the breaker. what and userID name the call in
// errors.
func (b *Breaker) do(ctx context.Context, what, userID string, call func() error) error {
	if b.closed.Load() {
		return fmt.Errorf("ups: breaker: %s user %q: %w", what, userID, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ups: breaker: %s user %q: %w", what, userID, err)
	}
	var callErr error
	ran, counted := false, false
	_, err := b.cb.Execute(func() (struct{}, error) {
		ran = true
		callErr = call()
		if counted = b.counts(callErr); !counted {
			return struct{}{}, uncounted{callErr}
		}
		return struct{}{}, callErr
	})
	if !ran {
		b.rejected.Add(1)
		return fmt.Errorf("ups: breaker: %s user %q: %w (%w)", what, userID, ErrCircuitOpen, err)
	}
	if counted {
		b.record(callErr)
	}
	return callErr
}

// counts reports whether the outcome of a call counts for or against the
// store (see BreakerOptions.Failures), and notes when the store answered.
func (b *Breaker) counts(err error) bool {
	switch {
	case err == nil:
		b.answered.Store(b.now().UnixNano())
		return true
	case !Unavailable(err):
		return false
	case TimedOut(err):
		return b.now().Sub(time.Unix(0, b.answered.Load())) >= b.unanswered
	}
	return true
}

// uncounted carries to gobreaker an error it must count neither way.
type uncounted struct{ err error }

func (u uncounted) Error() string { return u.err.Error() }
func (u uncounted) Unwrap() error { return u.err }

// record keeps the health figures that gobreaker clears on each
// transition, for a call that counted.
func (b *Breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.consecutive = 0
		return
	}
	b.consecutive++
	b.lastErr, b.lastErrAt = err, time.Now()
}

// Lookup reads through unless the breaker is open.
func (b *Breaker) Lookup(ctx context.Context, userID string) (Profile, error) {
	var p Profile
	err := b.do(ctx, "lookup", userID, func() (err error) {
		p, err = b.next.Lookup(ctx, userID)
		return err
	})
	return p, err
}

// LookupExperiments reads through, scoped if the store can, unless the
// breaker is open.
func (b *Breaker) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	var p Profile
	err := b.do(ctx, "lookup", userID, func() (err error) {
		p, err = b.scoped.LookupExperiments(ctx, userID, experimentIDs)
		return err
	})
	return p, err
}

// LookupAssignment reads one assignment through unless the breaker is
// open.
func (b *Breaker) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	var (
		a  Assignment
		ok bool
	)
	err := b.do(ctx, "lookup", userID, func() (err error) {
		a, ok, err = b.assignment.LookupAssignment(ctx, userID, experimentID)
		return err
	})
	return a, ok, err
}

// Save writes through unless the breaker is open.
func (b *Breaker) Save(ctx context.Context, p Profile) error {
	return b.do(ctx, "save", p.UserID, func() error { return b.next.Save(ctx, p) })
}

// SaveFirst writes through to next's SaveFirst unless the breaker is open.
func (b *Breaker) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	if b.first == nil {
		return Profile{}, unsupported("breaker", "save first for", p.UserID, "FirstWriter")
	}
	var won Profile
	err := b.do(ctx, "save first", p.UserID, func() (err error) {
		won, err = b.first.SaveFirst(ctx, p)
		return err
	})
	return won, err
}

// SaveReplacing writes through to next's SaveReplacing unless the breaker
// is open.
func (b *Breaker) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	if b.replacer == nil {
		return Profile{}, unsupported("breaker", "save replacing for", p.UserID, "Replacer")
	}
	var won Profile
	err := b.do(ctx, "save replacing", p.UserID, func() (err error) {
		won, err = b.replacer.SaveReplacing(ctx, p, was)
		return err
	})
	return won, err
}

// Delete erases the user through next's Delete unless the breaker is
// open.
func (b *Breaker) Delete(ctx context.Context, userID string) error {
	if b.deleter == nil {
		return unsupported("breaker", "delete", userID, "Deleter")
	}
	return b.do(ctx, "delete", userID, func() error { return b.deleter.Delete(ctx, userID) })
}

// Close makes later calls fail with ErrClosed and closes next if it is a
// Closer, whatever the breaker's state; a second Close does nothing. The
// breaker starts no goroutine.
func (b *Breaker) Close(ctx context.Context) error {
	if b.closed.Swap(true) {
		return nil
	}
	if err := Close(ctx, b.next); err != nil {
		return fmt.Errorf("ups: breaker: close next: %w", err)
	}
	return nil
}
