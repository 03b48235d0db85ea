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

// SaveReplacing writes each assignment of p only if the user's row for its
// experiment still holds was[experimentID] — the same variation_id and
// decided_at — or, where was has no entry, only if there is no row
// (ups.Replacer), with a lightweight transaction at
// StoreOptions.SerialConsistency: when servers replace or refresh one
// user's assignment at the same moment (two regions on datafiles that
// disagree, a reset), exactly one write wins and every writer learns
// which. It returns the rows that won over p's, keyed by experiment ID;
// their ExpiresAt is unknown (zero), since a transaction's answer carries
// no TTL.
//
// The assignments go in one conditional batch on the user's partition,
// each as
//
//	UPDATE … USING TTL ? SET variation_id = ?, decided_at = ?
//	  WHERE user_id = ? AND experiment_id = ? IF variation_id = ? AND decided_at = ?
//
// (both conditions null where the caller read no row) followed by the
// plain INSERT of the same row, which the batch applies only if every
// condition holds: the INSERT renews the row's liveness with the new TTL,
// which an UPDATE alone does not (the row marker of the first INSERT
// would keep a row of null values alive past a shorter TTL). Cassandra
// applies the batch whole or not at all and answers a refusal with every
// row the conditions read. SaveReplacing then drops the experiments whose
// row holds another assignment (the winners), expects none where the row
// is gone (expired or deleted since the caller read it), and tries the
// rest again: one Paxos round when nobody raced, at most one more per
// experiment that lost or vanished.
//
// A transaction that timed out may or may not have been applied: a read
// at the serial consistency, which finishes any round in progress, says
// what the rows hold, as for SaveFirst. A row holding what this call
// writes counts as written (possibly by this very transaction); a refresh
// (the same variation and decided_at as expected) cannot be told from its
// expected row, so a timed-out refresh that nothing else settles returns
// the timeout.
func (s *Store) SaveReplacing(ctx context.Context, p ups.Profile, was map[string]ups.Assignment) (ups.Profile, error) {
	if err := s.check("save", p.UserID); err != nil {
		return ups.Profile{}, err
	}
	if err := p.Validate(); err != nil {
		return ups.Profile{}, fmt.Errorf("cassandra: save replacing: %w", err)
	}
	won := ups.NewProfile(p.UserID)
	if p.Empty() {
		return won, nil
	}
	now := s.opts.Now()
	todo := slices.Sorted(maps.Keys(p.Assignments))
	r := replacement{
		written: make(map[string]ups.Assignment, len(todo)),
		expect:  make(map[string]ups.Assignment, len(todo)),
	}
	for _, expID := range todo {
		r.written[expID] = s.opts.Retention.Stamp(expID, p.Assignments[expID], now)
		if w, ok := was[expID]; ok {
			r.expect[expID] = w
		}
	}
	for len(todo) > 0 {
		applied, rows, err := s.replaceIf(ctx, p.UserID, todo, r, now)
		cause := err
		if err != nil && timeout(err) {
			rows, err = s.readSerialRows(ctx, p.UserID, todo)
			if err != nil {
				err = fmt.Errorf("%w (and the serial read after it: %v)", cause, err)
			}
		}
		if err != nil {
			return won, storeError(err, "cassandra: save replacing user %q (%d assignments)", p.UserID, len(todo))
		}
		if applied {
			return won, nil
		}
		var settled bool
		todo, settled = r.settle(todo, rows, won.Assignments)
		if !settled {
			if cause != nil {
				return won, storeError(cause, "cassandra: save replacing user %q (%d assignments)", p.UserID, len(todo))
			}
			return won, fmt.Errorf("cassandra: save replacing user %q: the transaction was not applied, but every row among %v holds what was expected", p.UserID, todo)
		}
	}
	return won, nil
}

// replacement is what a SaveReplacing writes and what it expects to find.
type replacement struct {
	// written holds each assignment as the store stamps it.
	written map[string]ups.Assignment
	// expect holds the assignment each row must still hold; an experiment
	// without an entry must have no row.
	expect map[string]ups.Assignment
}

// settle takes the rows a refused (or timed-out) transaction found for the
// experiments todo: a row holding another assignment than expected won
// (added to won) and one holding what this call writes is done, both
// leaving todo; a row that is gone is expected to be absent from now on.
// It returns the experiments left and whether anything changed, so that
// trying again can end otherwise.
func (r replacement) settle(todo []string, rows map[string]ups.Assignment, won map[string]ups.Assignment) ([]string, bool) {
	changed := false
	todo = slices.DeleteFunc(todo, func(expID string) bool {
		row, found := rows[expID]
		want, expected := r.expect[expID]
		switch {
		case !found:
			if expected {
				delete(r.expect, expID) // gone since it was read: counts as none
				changed = true
			}
			return false
		case expected && row.SameDecision(want):
			return false // its condition held; another row's did not
		case row.SameDecision(r.written[expID]):
			changed = true
			return true
		default:
			won[expID] = row
			changed = true
			return true
		}
	})
	return todo, changed
}

// replaceIf runs one conditional batch writing the experiments expIDs and
// returns whether it was applied, else the rows its conditions read.
func (s *Store) replaceIf(ctx context.Context, userID string, expIDs []string, r replacement, now time.Time) (bool, map[string]ups.Assignment, error) {
	b := s.casBatch(ctx)
	for _, expID := range expIDs {
		a := r.written[expID]
		insert := s.insertArgs(userID, expID, a, now, false)
		// A retry, or a speculative attempt past a frozen coordinator,
		// may find this very write: settle counts it as done.
		b.Entries = append(b.Entries,
			gocql.BatchEntry{Stmt: s.stmts.replace, Args: replaceArgs(insert, r.expect, expID), Idempotent: true},
			gocql.BatchEntry{Stmt: s.stmts.insert, Args: insert, Idempotent: true},
		)
	}
	return s.executeCAS(b)
}

// replaceArgs binds the conditional update of one row (replaceNames) from
// its insert's arguments (insertNames) and the assignment the row must
// hold, null for none.
func replaceArgs(insert []any, expect map[string]ups.Assignment, expID string) []any {
	var wasVariation, wasDecidedAt any
	if w, ok := expect[expID]; ok {
		wasVariation = w.VariationID
		if !w.DecidedAt.IsZero() {
			wasDecidedAt = w.DecidedAt.UTC().Truncate(time.Millisecond)
		}
	}
	userID, variationID, decidedAt, ttl := insert[0], insert[2], insert[3], insert[4]
	return []any{ttl, variationID, decidedAt, userID, expID, wasVariation, wasDecidedAt}
}
