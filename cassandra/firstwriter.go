package cassandra

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/ups"
)

// SaveFirst writes each assignment of p only if the user has no live row
// for that experiment, with a lightweight transaction (INSERT … IF NOT
// EXISTS, Paxos at StoreOptions.SerialConsistency): when servers in two
// regions decide one new user at the same moment, exactly one write wins
// and both learn which. It returns the rows that were already there,
// keyed by experiment ID; their ExpiresAt is unknown (zero), since a
// transaction's answer carries no TTL.
//
// The assignments go in one conditional batch, which Cassandra applies
// whole or not at all: when any row exists, nothing is written and the
// existing rows come back. SaveFirst then drops those experiments and
// tries the rest again, so it takes one Paxos round when nobody raced and
// at most one more per experiment that lost.
//
// A conditional write costs a Paxos round (four round trips to a quorum of
// replicas instead of one), and mixing it with plain upserts of the same
// rows voids its guarantee for those rows: use it for first assignments,
// and SaveReplacing, not Save, for refreshes and re-assignments.
func (s *Store) SaveFirst(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	if err := s.check("save", p.UserID); err != nil {
		return ups.Profile{}, err
	}
	if err := p.Validate(); err != nil {
		return ups.Profile{}, fmt.Errorf("cassandra: save: %w", err)
	}
	won := ups.NewProfile(p.UserID)
	todo := slices.Sorted(maps.Keys(p.Assignments))
	now := s.opts.Now()
	for len(todo) > 0 {
		existing, err := s.insertNew(ctx, p, todo, now)
		if err != nil && timeout(err) {
			// A transaction that timed out may or may not have been
			// applied (a Paxos round of another writer may also be under
			// way): a read at the serial consistency finishes any round in
			// progress and says what the rows hold. Found rows are the
			// winners (possibly this very write); none means nothing was
			// written, and the error stands.
			existing, err = s.readSerial(ctx, p.UserID, todo, err)
		}
		if err != nil {
			return won, storeError(err, "cassandra: save first user %q (%d assignments)", p.UserID, len(todo))
		}
		if len(existing) == 0 {
			return won, nil // applied
		}
		before := len(todo)
		todo = slices.DeleteFunc(todo, func(expID string) bool {
			a, ok := existing[expID]
			if ok {
				won.Assignments[expID] = a
			}
			return ok
		})
		if len(todo) == before {
			return won, fmt.Errorf("cassandra: save first user %q: the transaction was not applied but named no existing row among %v", p.UserID, todo)
		}
	}
	return won, nil
}

// readSerial reads the rows of expIDs at the serial consistency after a
// transaction ended in cause (a timeout): it returns the rows found, or
// cause when there are none or the read fails too.
func (s *Store) readSerial(ctx context.Context, userID string, expIDs []string, cause error) (map[string]ups.Assignment, error) {
	existing, err := s.readSerialRows(ctx, userID, expIDs)
	if err != nil {
		return nil, fmt.Errorf("%w (and the serial read after it: %v)", cause, err)
	}
	if len(existing) == 0 {
		return nil, cause
	}
	return existing, nil
}

// readSerialRows reads the rows of expIDs at the serial consistency, which
// finishes any Paxos round in progress on them first.
func (s *Store) readSerialRows(ctx context.Context, userID string, expIDs []string) (map[string]ups.Assignment, error) {
	iter := s.session.Query(s.stmts.lookupIn, userID, expIDs).
		WithContext(ctx).
		Consistency(gocql.Consistency(s.opts.SerialConsistency)).
		Idempotent(true).
		Iter()
	existing := map[string]ups.Assignment{}
	var (
		expID, varID string
		decidedAt    time.Time
		ttl          int
	)
	for iter.Scan(&expID, &varID, &decidedAt, &ttl) {
		if varID != "" {
			existing[expID] = ups.Assignment{VariationID: varID, DecidedAt: decidedAt}
		}
		decidedAt = time.Time{}
	}
	if err := iter.Close(); err != nil {
		return nil, err
	}
	return existing, nil
}

// insertNew runs one conditional insert of the experiments expIDs and
// returns nil when it was applied, else the rows that stopped it.
func (s *Store) insertNew(ctx context.Context, p ups.Profile, expIDs []string, now time.Time) (map[string]ups.Assignment, error) {
	if len(expIDs) == 1 {
		row := map[string]any{}
		applied, err := s.session.Query(s.stmts.insertNew, s.insertArgs(p.UserID, expIDs[0], p.Assignments[expIDs[0]], now, false)...).
			WithContext(ctx).
			Consistency(s.opts.WriteConsistency).
			SerialConsistency(s.opts.SerialConsistency).
			// A retry, or a speculative attempt past a frozen
			// coordinator, may find this very write and report it as the
			// existing row: the caller then serves the same variation.
			Idempotent(true).
			SetSpeculativeExecutionPolicy(s.spec).
			MapScanCAS(row)
		if err != nil || applied {
			return nil, err
		}
		existing := map[string]ups.Assignment{}
		addExisting(existing, row)
		return existing, nil
	}
	b := s.casBatch(ctx)
	for _, expID := range expIDs {
		b.Entries = append(b.Entries, gocql.BatchEntry{
			Stmt:       s.stmts.insertNew,
			Args:       s.insertArgs(p.UserID, expID, p.Assignments[expID], now, false),
			Idempotent: true,
		})
	}
	applied, existing, err := s.executeCAS(b)
	if err != nil || applied {
		return nil, err
	}
	return existing, nil
}
