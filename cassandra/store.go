package cassandra

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/ups"
)

// maxBatchRows bounds one unlogged batch. A save rarely carries more than a
// handful of assignments; larger ones are split so a batch stays under
// Cassandra's batch_size_fail_threshold (50 KiB by default) even with
// maximum-length IDs.
const maxBatchRows = 64

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
	// Now stamps decided_at and converts TTLs to expiry times; nil means
	// time.Now.
	Now func() time.Time
}

// Store is a ups.Service backed by Cassandra: one partition per user, one
// row per experiment, each row written with USING TTL from the retention.
type Store struct {
	session     *gocql.Session
	ownsSession bool
	stmts       statements
	opts        StoreOptions
}

var _ ups.Service = (*Store)(nil)

// NewStore returns a store on an open session. The session may have any
// keyspace or none: statements name opts.Keyspace explicitly, so one session
// can serve stores of several environments.
func NewStore(session *gocql.Session, opts StoreOptions) (*Store, error) {
	if session == nil {
		return nil, errors.New("cassandra: new store: session is nil")
	}
	if err := config.ValidateKeyspace(opts.Keyspace); err != nil {
		return nil, fmt.Errorf("cassandra: new store: %w", err)
	}
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("cassandra: new store: %w", err)
	}
	if opts.ReadConsistency == 0 {
		opts.ReadConsistency = gocql.LocalQuorum
	}
	if opts.WriteConsistency == 0 {
		opts.WriteConsistency = gocql.LocalQuorum
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	stmts, err := newStatements(opts.Keyspace)
	if err != nil {
		return nil, fmt.Errorf("cassandra: new store: %w", err)
	}
	return &Store{session: session, stmts: stmts, opts: opts}, nil
}

// Lookup reads the user's partition. Expired rows are already gone: the
// TTL is enforced by Cassandra, not by the store.
func (s *Store) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if err := ups.ValidateUserID(userID); err != nil {
		return ups.Profile{}, fmt.Errorf("cassandra: lookup: %w", err)
	}
	return s.read(ctx, s.session.Query(s.stmts.lookup, userID), userID)
}

var _ ups.ScopedLookuper = (*Store)(nil)

// LookupExperiments reads only the rows of experimentIDs: still one
// single-partition query, but it ships a decision's one or two rows rather
// than every assignment a long-lived user has.
func (s *Store) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (ups.Profile, error) {
	if err := ups.ValidateUserID(userID); err != nil {
		return ups.Profile{}, fmt.Errorf("cassandra: lookup: %w", err)
	}
	if len(experimentIDs) == 0 {
		return ups.NewProfile(userID), nil
	}
	return s.read(ctx, s.session.Query(s.stmts.lookupIn, userID, experimentIDs), userID)
}

func (s *Store) read(ctx context.Context, q *gocql.Query, userID string) (ups.Profile, error) {
	now := s.opts.Now()
	iter := q.WithContext(ctx).
		Consistency(s.opts.ReadConsistency).
		Idempotent(true).
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
		return ups.Profile{}, fmt.Errorf("cassandra: lookup user %q: %w", userID, err)
	}
	return p, nil
}

// Save upserts each assignment as its own row with the TTL its experiment's
// retention gives. Several assignments go in one unlogged batch: they share
// the partition, so the batch is applied as one mutation on each replica
// without the batchlog's extra round trip.
func (s *Store) Save(ctx context.Context, p ups.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("cassandra: save: %w", err)
	}
	if p.Empty() {
		return nil
	}
	now := s.opts.Now().UTC().Truncate(time.Millisecond) // timestamp precision
	expIDs := slices.Sorted(maps.Keys(p.Assignments))
	if len(expIDs) == 1 {
		args := s.insertArgs(p.UserID, expIDs[0], p.Assignments[expIDs[0]], now)
		err := s.session.Query(s.stmts.insert, args...).
			WithContext(ctx).
			Consistency(s.opts.WriteConsistency).
			Idempotent(true).
			Exec()
		if err != nil {
			return fmt.Errorf("cassandra: save user %q experiment %q: %w", p.UserID, expIDs[0], err)
		}
		return nil
	}
	for chunk := range slices.Chunk(expIDs, maxBatchRows) {
		b := s.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		b.SetConsistency(s.opts.WriteConsistency)
		for _, expID := range chunk {
			b.Entries = append(b.Entries, gocql.BatchEntry{
				Stmt:       s.stmts.insert,
				Args:       s.insertArgs(p.UserID, expID, p.Assignments[expID], now),
				Idempotent: true, // all values are bound, so a retry writes the same cells
			})
		}
		if err := s.session.ExecuteBatch(b); err != nil {
			return fmt.Errorf("cassandra: save user %q (%d assignments): %w", p.UserID, len(chunk), err)
		}
	}
	return nil
}

func (s *Store) insertArgs(userID, expID string, a ups.Assignment, now time.Time) []any {
	return []any{userID, expID, a.VariationID, now, ups.TTLSeconds(s.opts.Retention.For(expID))}
}

// Delete erases every assignment of a user with one partition tombstone.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := ups.ValidateUserID(userID); err != nil {
		return fmt.Errorf("cassandra: delete: %w", err)
	}
	err := s.session.Query(s.stmts.delete, userID).
		WithContext(ctx).
		Consistency(s.opts.WriteConsistency).
		Idempotent(true).
		Exec()
	if err != nil {
		return fmt.Errorf("cassandra: delete user %q: %w", userID, err)
	}
	return nil
}
