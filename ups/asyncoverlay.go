package ups

import (
	"context"
	"fmt"
	"time"
)

// Lookups through the saver read the store and lay over its answer what
// the user's writes not yet done will make of it: pending saves show at
// once (read-your-writes), a pending Delete hides what the store holds.

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
	if u.running != nil {
		ov.add(u.running)
	}
	for _, o := range u.ops {
		ov.add(o)
	}
	return ov, true
}

// add lays what o will do over what the user's writes before it do.
func (ov *overlay) add(o *op) {
	switch o.kind {
	case opDelete:
		ov.reset = true
		clear(ov.set)
	case opSave, opWriteThrough:
		for expID, as := range o.p.Assignments {
			ov.set[expID] = as
		}
	case opSaveFirst:
		// Its outcome is known only where the experiment is known to be
		// free (deleted) or taken (queued before it).
		if ov.reset {
			for expID, as := range o.p.Assignments {
				if _, taken := ov.set[expID]; !taken {
					ov.set[expID] = as
				}
			}
		}
	case opSaveReplacing:
		// Known, as for a first write, where what it compares with is
		// known: free after a Delete, or what a write before it set.
		for expID, as := range o.p.Assignments {
			stored, taken := ov.set[expID]
			if !taken && !ov.reset {
				continue // the store's answer decides
			}
			if w, expected := o.was[expID]; !taken || expected && stored.SameDecision(w) {
				ov.set[expID] = as
			}
		}
	}
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
		ov.apply(&p, a.opts.Now())
		return p, nil
	}
	p, err := a.next.Lookup(ctx, userID)
	if err != nil || !pending {
		return p, err
	}
	ov.apply(&p, a.opts.Now())
	return p, nil
}

// LookupExperiments reads through to the next store, scoped if the store
// can, and shows the pending saves of those experiments over it.
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
		if p, err = a.scoped.LookupExperiments(ctx, userID, experimentIDs); err != nil {
			return Profile{}, err
		}
	}
	if !pending {
		return p, nil
	}
	now := a.opts.Now()
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
			if !live(as, a.opts.Now()) {
				return Assignment{}, false, nil
			}
			return as, true, nil
		}
		if ov.reset {
			return Assignment{}, false, ValidateUserID(userID)
		}
	}
	return a.assignment.LookupAssignment(ctx, userID, experimentID)
}
