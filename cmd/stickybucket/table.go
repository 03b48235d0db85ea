package main

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"unique"

	"github.com/stickybucket/stickybucket/ups"
)

// profileTable is decide's profile store: every user's assignments in
// memory, loaded from the profiles file and written back to it. It keeps
// only what that file can hold (user, experiment and variation IDs; the
// Optimizely schema has no decision or expiry times), as compactly as
// that allows, so a file of a few hundred thousand users fits in a small
// process: one map entry per user holding a slice of interned ID pairs
// (experiment and variation IDs repeat across users, so each distinct one
// is stored once).
//
// It is a ups.Service (and ups.ScopedLookuper) with ups.Memory's
// semantics minus retention: Save upserts each assignment and leaves the
// user's others alone, Lookup of an unknown user is an empty profile, and
// both fail with the context's error once it is done.
type profileTable struct {
	mu    sync.RWMutex
	users map[string][]assignment
}

// assignment is one experiment's variation, both IDs interned.
type assignment struct {
	experiment, variation unique.Handle[string]
}

var (
	_ ups.Service        = (*profileTable)(nil)
	_ ups.ScopedLookuper = (*profileTable)(nil)
)

func newProfileTable() *profileTable {
	return &profileTable{users: map[string][]assignment{}}
}

// Lookup returns a copy of the user's assignments.
func (t *profileTable) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	return t.lookup(ctx, userID, nil)
}

// LookupExperiments is Lookup restricted to experimentIDs.
func (t *profileTable) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (ups.Profile, error) {
	if experimentIDs == nil {
		experimentIDs = []string{} // nil means all to lookup
	}
	return t.lookup(ctx, userID, experimentIDs)
}

func (t *profileTable) lookup(ctx context.Context, userID string, only []string) (ups.Profile, error) {
	if err := ctx.Err(); err != nil {
		return ups.Profile{}, fmt.Errorf("lookup user %q: %w", clip(userID), err)
	}
	if err := ups.ValidateUserID(userID); err != nil {
		return ups.Profile{}, fmt.Errorf("lookup: %w", err)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	stored := t.users[userID]
	p := ups.Profile{UserID: userID, Assignments: make(map[string]ups.Assignment, len(stored))}
	for _, a := range stored {
		exp := a.experiment.Value()
		if only == nil || slices.Contains(only, exp) {
			p.Assignments[exp] = ups.Assignment{VariationID: a.variation.Value()}
		}
	}
	return p, nil
}

// Save upserts each assignment of p. Nothing is written if p is invalid.
func (t *profileTable) Save(ctx context.Context, p ups.Profile) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save user %q: %w", clip(p.UserID), err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if len(p.Assignments) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	stored := t.users[p.UserID]
	// Sorted, so the saved assignments go in the same order on every run.
	for _, expID := range slices.Sorted(maps.Keys(p.Assignments)) {
		a := assignment{experiment: unique.Make(expID), variation: unique.Make(p.Assignments[expID].VariationID)}
		i := slices.IndexFunc(stored, func(s assignment) bool { return s.experiment == a.experiment })
		if i >= 0 {
			stored[i] = a
		} else {
			stored = append(stored, a)
		}
	}
	t.users[p.UserID] = slices.Clip(stored)
	return nil
}

// Len returns the number of users.
func (t *profileTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.users)
}

// All yields every user's profile in user ID order, so files written from
// it are stable. Each profile is a fresh copy. Saves during the iteration
// may or may not be seen.
func (t *profileTable) All() iter.Seq[ups.Profile] {
	return func(yield func(ups.Profile) bool) {
		t.mu.RLock()
		ids := slices.Sorted(maps.Keys(t.users))
		t.mu.RUnlock()
		for _, id := range ids {
			t.mu.RLock()
			stored := t.users[id]
			p := ups.Profile{UserID: id, Assignments: make(map[string]ups.Assignment, len(stored))}
			for _, a := range stored {
				p.Assignments[a.experiment.Value()] = ups.Assignment{VariationID: a.variation.Value()}
			}
			t.mu.RUnlock()
			if !yield(p) {
				return
			}
		}
	}
}
