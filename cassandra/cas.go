package cassandra

import (
	"context"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/ups"
)

// casBatch starts a conditional batch (lightweight transactions on one
// user's partition) at the store's write and serial consistency, with its
// speculative execution: first-writer-wins inserts and conditional
// replacements add their entries to it and run it with executeCAS.
func (s *Store) casBatch(ctx context.Context) *gocql.Batch {
	b := s.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx).SerialConsistency(s.opts.SerialConsistency).SpeculativeExecutionPolicy(s.spec)
	b.SetConsistency(s.opts.WriteConsistency)
	return b
}

// executeCAS runs a conditional batch and returns whether it was applied
// and, when it was not, the rows its conditions read, by experiment ID.
func (s *Store) executeCAS(b *gocql.Batch) (bool, map[string]ups.Assignment, error) {
	row := map[string]any{}
	applied, iter, err := s.session.MapExecuteBatchCAS(b, row)
	if err != nil {
		return false, nil, err
	}
	rows := map[string]ups.Assignment{}
	if !applied {
		addExisting(rows, row)
		for {
			next := map[string]any{}
			if !iter.MapScan(next) {
				break
			}
			addExisting(rows, next)
		}
	}
	if err := iter.Close(); err != nil {
		return false, nil, err
	}
	return applied, rows, nil
}

// addExisting records one row of a transaction's answer, which carries
// the existing row's columns as SELECT * would.
func addExisting(into map[string]ups.Assignment, row map[string]any) {
	expID, _ := row["experiment_id"].(string)
	varID, _ := row["variation_id"].(string)
	if expID == "" || varID == "" {
		return
	}
	a := ups.Assignment{VariationID: varID}
	a.DecidedAt, _ = row["decided_at"].(time.Time)
	into[expID] = a
}
