package cassandra

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/ups"
)

// StoreOptions configures NewStore.
type StoreOptions struct {
	// Keyspace holds the assignments table (see Migrate).
	Keyspace string
	// Retention is written as each row's TTL.
	Retention ups.Retention
	// ReadConsistency and WriteConsistency default to LOCAL_QUORUM. Their
	// zero value is gocql.Any, which the store does not support: it cannot
	// serve reads and acknowledges writes no replica holds.
	ReadConsistency  gocql.Consistency
	WriteConsistency gocql.Consistency
	// SerialConsistency is the Paxos consistency of SaveFirst and
	// SaveReplacing: SERIAL (the zero value's default) makes servers in
	// every datacenter agree on the first writer; LOCAL_SERIAL only those
	// of one datacenter, for less latency.
	SerialConsistency gocql.SerialConsistency
	// SpeculativeAfter sends a statement that has had no answer for this
	// long to the next host of its query plan as well; the first answer
	// wins. Every statement the store sends is idempotent (fixed values
	// and client timestamps), so a second attempt writes the same cells.
	// Zero: off.
	SpeculativeAfter time.Duration
	// Now stamps decided_at and converts TTLs to expiry times; nil means
	// time.Now.
	Now func() time.Time
}

// Store is a ups.Service backed by Cassandra: one partition per user, one
// row per experiment, each row written with USING TTL from the retention.
type Store struct {
	session     *gocql.Session
	ownsSession bool
	closed      atomic.Bool
	stmts       statements
	opts        StoreOptions
	spec        gocql.SpeculativeExecutionPolicy
}

var (
	_ ups.Service            = (*Store)(nil)
	_ ups.ScopedLookuper     = (*Store)(nil)
	_ ups.AssignmentLookuper = (*Store)(nil)
	_ ups.Deleter            = (*Store)(nil)
	_ ups.FirstWriter        = (*Store)(nil)
	_ ups.Replacer           = (*Store)(nil)
	_ ups.Closer             = (*Store)(nil)
)

// Validate reports the first problem of o: a keyspace name Cassandra
// would not take unquoted, a retention out of range, a negative
// SpeculativeAfter.
func (o StoreOptions) Validate() error {
	if err := ValidateKeyspace(o.Keyspace); err != nil {
		return err
	}
	if err := o.Retention.Validate(); err != nil {
		return err
	}
	if o.SpeculativeAfter < 0 {
		return fmt.Errorf("negative SpeculativeAfter %s", o.SpeculativeAfter)
	}
	return nil
}

// NewStore returns a store on an open session. The session may have any
// keyspace or none: statements name opts.Keyspace explicitly, so one session
// can serve stores of several environments. The session stays the
// caller's: Close does not close it.
func NewStore(session *gocql.Session, opts StoreOptions) (*Store, error) {
	if session == nil {
		return nil, errors.New("cassandra: new store: session is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("cassandra: new store: %w", err)
	}
	if opts.ReadConsistency == 0 {
		opts.ReadConsistency = gocql.LocalQuorum
	}
	if opts.WriteConsistency == 0 {
		opts.WriteConsistency = gocql.LocalQuorum
	}
	if opts.SerialConsistency == 0 {
		opts.SerialConsistency = gocql.Serial
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	stmts, err := newStatements(opts.Keyspace)
	if err != nil {
		return nil, fmt.Errorf("cassandra: new store: %w", err)
	}
	st := &Store{session: session, stmts: stmts, opts: opts, spec: gocql.NonSpeculativeExecution{}}
	if opts.SpeculativeAfter > 0 {
		st.spec = &gocql.SimpleSpeculativeExecution{NumAttempts: 1, TimeoutDelay: opts.SpeculativeAfter}
	}
	return st, nil
}

// check rejects calls after Close and user IDs no partition can be keyed by.
func (s *Store) check(op, userID string) error {
	if s.closed.Load() {
		return fmt.Errorf("cassandra: %s user %q: %w", op, userID, ups.ErrClosed)
	}
	if err := ups.ValidateUserID(userID); err != nil {
		return fmt.Errorf("cassandra: %s: %w", op, err)
	}
	return nil
}

// Lookup reads the user's partition. Expired rows are already gone: the
// TTL is enforced by Cassandra, not by the store.
func (s *Store) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if err := s.check("lookup", userID); err != nil {
		return ups.Profile{}, err
	}
	return s.read(ctx, s.session.Query(s.stmts.lookup, userID), userID)
}

// LookupExperiments reads only the rows of experimentIDs: still one
// single-partition query, but it ships a decision's one or two rows rather
// than every assignment a long-lived user has.
func (s *Store) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (ups.Profile, error) {
	if err := s.check("lookup", userID); err != nil {
		return ups.Profile{}, err
	}
	if len(experimentIDs) == 0 {
		return ups.NewProfile(userID), nil
	}
	return s.read(ctx, s.session.Query(s.stmts.lookupIn, userID, experimentIDs), userID)
}

// LookupAssignment reads the one row of experimentID.
func (s *Store) LookupAssignment(ctx context.Context, userID, experimentID string) (ups.Assignment, bool, error) {
	if err := s.check("lookup", userID); err != nil {
		return ups.Assignment{}, false, err
	}
	now := s.opts.Now()
	var (
		a   ups.Assignment
		ttl int
	)
	err := s.session.Query(s.stmts.lookupOne, userID, experimentID).
		WithContext(ctx).
		Consistency(s.opts.ReadConsistency).
		Idempotent(true).
		SetSpeculativeExecutionPolicy(s.spec).
		Scan(&a.VariationID, &a.DecidedAt, &ttl)
	if errors.Is(err, gocql.ErrNotFound) {
		return ups.Assignment{}, false, nil
	}
	if err != nil {
		return ups.Assignment{}, false, storeError(err, "cassandra: lookup user %q experiment %q", userID, experimentID)
	}
	if ttl > 0 {
		a.ExpiresAt = now.Add(time.Duration(ttl) * time.Second)
	}
	return a, true, nil
}

func (s *Store) read(ctx context.Context, q *gocql.Query, userID string) (ups.Profile, error) {
	now := s.opts.Now()
	iter := q.WithContext(ctx).
		Consistency(s.opts.ReadConsistency).
		Idempotent(true).
		SetSpeculativeExecutionPolicy(s.spec).
		Iter()
	p := ups.NewProfile(userID)
	var (
		expID, varID string
		decidedAt    time.Time
		ttl          int
	)
	for iter.Scan(&expID, &varID, &decidedAt, &ttl) {
		a := ups.Assignment{VariationID: varID, DecidedAt: decidedAt}
		if ttl > 0 {
			a.ExpiresAt = now.Add(time.Duration(ttl) * time.Second)
		}
		p.Assignments[expID] = a
		decidedAt, ttl = time.Time{}, 0
	}
	if err := iter.Close(); err != nil {
		return ups.Profile{}, storeError(err, "cassandra: lookup user %q", userID)
	}
	return p, nil
}

// Save upserts each assignment as its own row with the TTL its experiment's
// retention gives, all in one unlogged batch: the rows share the partition,
// so the batch is one mutation on each replica, applied whole or not at
// all, without the batchlog's extra round trip. Single-partition batches
// are exempt from batch_size_fail_threshold (Cassandra 3.6+), and
// ups.MaxAssignments bounds their size.
//
// The whole save carries one client-side write timestamp, so when gocql
// retries it on another replica the retry writes the very same cells
// instead of newer ones.
func (s *Store) Save(ctx context.Context, p ups.Profile) error {
	return s.save(ctx, p, false)
}

// save is Save; with keepExpiry, an assignment that carries an ExpiresAt
// is written with the TTL left until it (an import keeping what the
// export said), instead of the retention.
func (s *Store) save(ctx context.Context, p ups.Profile, keepExpiry bool) error {
	if err := s.check("save", p.UserID); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("cassandra: save: %w", err)
	}
	if p.Empty() {
		return nil
	}
	now := s.opts.Now()
	ts := now.UnixMicro()
	expIDs := slices.Sorted(maps.Keys(p.Assignments))
	if len(expIDs) == 1 {
		err := s.session.Query(s.stmts.insert, s.insertArgs(p.UserID, expIDs[0], p.Assignments[expIDs[0]], now, keepExpiry)...).
			WithContext(ctx).
			Consistency(s.opts.WriteConsistency).
			WithTimestamp(ts).
			Idempotent(true).
			SetSpeculativeExecutionPolicy(s.spec).
			Exec()
		if err != nil {
			return storeError(err, "cassandra: save user %q experiment %q", p.UserID, expIDs[0])
		}
		return nil
	}
	b := s.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx).WithTimestamp(ts).SpeculativeExecutionPolicy(s.spec)
	b.SetConsistency(s.opts.WriteConsistency)
	for _, expID := range expIDs {
		b.Entries = append(b.Entries, gocql.BatchEntry{
			Stmt:       s.stmts.insert,
			Args:       s.insertArgs(p.UserID, expID, p.Assignments[expID], now, keepExpiry),
			Idempotent: true, // every value and the timestamp are fixed: a retry writes the same cells
		})
	}
	if err := s.session.ExecuteBatch(b); err != nil {
		return storeError(err, "cassandra: save user %q (%d assignments)", p.UserID, len(expIDs))
	}
	return nil
}

// insertArgs binds one row stamped as every store stamps it
// (ups.Retention.Stamp): decided_at is the assignment's own decision time
// when it carries one (a refreshed assignment keeps it), else now,
// truncated to the millisecond precision of the timestamp type; the TTL
// is the experiment's retention, which Cassandra counts from now, or with
// keepExpiry the whole seconds left until the assignment's ExpiresAt (at
// least one) when it has one.
func (s *Store) insertArgs(userID, expID string, a ups.Assignment, now time.Time, keepExpiry bool) []any {
	rec := s.opts.Retention.Stamp(expID, a, now)
	ttl := ups.TTLSeconds(s.opts.Retention.For(expID))
	if keepExpiry && !a.ExpiresAt.IsZero() {
		ttl = max(1, int((a.ExpiresAt.Sub(now)+time.Second-1)/time.Second))
	}
	return []any{userID, expID, rec.VariationID, rec.DecidedAt.UTC().Truncate(time.Millisecond), ttl}
}

// Delete erases every assignment of a user with one partition tombstone.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := s.check("delete", userID); err != nil {
		return err
	}
	err := s.session.Query(s.stmts.delete, userID).
		WithContext(ctx).
		Consistency(s.opts.WriteConsistency).
		WithTimestamp(s.opts.Now().UnixMicro()).
		Idempotent(true).
		SetSpeculativeExecutionPolicy(s.spec).
		Exec()
	if err != nil {
		return storeError(err, "cassandra: delete user %q", userID)
	}
	return nil
}

// Keyspace returns the keyspace the store works in.
func (s *Store) Keyspace() string { return s.opts.Keyspace }
