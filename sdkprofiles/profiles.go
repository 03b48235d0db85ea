package sdkprofiles

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// Options are the stickiness rules of the environment. The zero value
// writes new and changed entries only, never refreshes and has no resets.
type Options struct {
	// RefreshAfter makes stickiness slide: an unchanged entry whose stored
	// assignment expires within it is written again, keeping its decision
	// time (decision.Options.RefreshAfter). Zero: never.
	RefreshAfter time.Duration
	// Resets hide, per experiment ID, the assignments decided at or before
	// the time given, so the SDK buckets those users again.
	Resets map[string]time.Time
	// FirstWriterWins makes every write conditional (the store must be a
	// ups.FirstWriter and a ups.Replacer): an entry the store holds
	// nothing for is written only if no other writer did first, and a
	// changed, reset or refreshed one only if the store still holds the
	// assignment read for it; otherwise the other writer's stays.
	FirstWriterWins bool
	// Now is the clock for RefreshAfter; nil means time.Now.
	Now func() time.Time
}

// Service serves the SDKs' lookup and save over a store. It is safe for
// concurrent use.
type Service struct {
	store ups.Service
	// What store offers, resolved once: a scoped read (made of Lookup
	// when the store cannot), and the conditional writes under
	// FirstWriterWins (nil otherwise).
	scoped   ups.ScopedLookuper
	fw       ups.FirstWriter
	replacer ups.Replacer
	opts     Options
}

// New returns a Service over store.
func New(store ups.Service, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("sdkprofiles: new: store is nil")
	}
	if opts.RefreshAfter < 0 {
		return nil, fmt.Errorf("sdkprofiles: new: negative RefreshAfter %s", opts.RefreshAfter)
	}
	s := &Service{store: store, scoped: ups.ScopedLookuperOf(store), opts: opts}
	if opts.FirstWriterWins {
		fw, canFirst := ups.As[ups.FirstWriter](store)
		replacer, canReplace := ups.As[ups.Replacer](store)
		if !canFirst || !canReplace {
			return nil, fmt.Errorf("sdkprofiles: new: FirstWriterWins needs a store that implements ups.FirstWriter and ups.Replacer; %T does not", store)
		}
		s.fw, s.replacer = fw, replacer
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	return s, nil
}

// Lookup returns the user's live assignments, without those an
// experiment's reset made void. An unknown user has an empty profile.
//
// It also refreshes the assignments due under RefreshAfter, keeping their
// decision time: an SDK saves only when a decision changed the profile,
// so for a returning user the lookup is the only call that says the
// assignments are still in use. A refresh that fails is not the lookup's
// failure: the profile read is returned all the same. Under
// FirstWriterWins a refresh is written only if the store still holds the
// assignment read; where another writer changed it meanwhile, the lookup
// returns the other writer's.
func (s *Service) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	p, err := s.store.Lookup(ctx, userID)
	if err != nil {
		return ups.Profile{}, err
	}
	var due ups.Profile
	now := s.opts.Now()
	for expID, a := range p.Assignments {
		switch {
		case s.voided(expID, a):
			delete(p.Assignments, expID)
		case s.refreshDue(a, now):
			add(&due, userID, expID, ups.Assignment{VariationID: a.VariationID, DecidedAt: a.DecidedAt})
		}
	}
	switch {
	case due.Empty():
	case s.replacer == nil:
		_ = s.store.Save(ctx, due)
	default:
		if won, err := s.replacer.SaveReplacing(ctx, due, p.Assignments); err == nil {
			maps.Copy(p.Assignments, won.Assignments)
		}
	}
	return p, nil
}

// voided reports whether a reset of expID makes a void.
func (s *Service) voided(expID string, a ups.Assignment) bool {
	before, ok := s.opts.Resets[expID]
	return ok && !a.DecidedAt.After(before)
}

// SaveMode says which entries of a profile Save may write.
type SaveMode int

const (
	// SaveChanged writes new and changed entries (and refreshes).
	SaveChanged SaveMode = iota
	// SaveOnlyNew writes only entries the store holds no assignment for:
	// what a caller sends after its lookup failed, when it bucketed the
	// user knowing nothing of the stored assignments. A changed entry is
	// then not a decision to replace the stored one but a guess, and
	// writing it would break stickiness.
	SaveOnlyNew
)

// SaveResult counts what Save did with a profile's entries.
type SaveResult struct {
	// Written entries were new, changed or refreshed (with an async
	// saver underneath: accepted for writing).
	Written int
	// Unchanged entries matched the store and were not due a refresh, or
	// (SaveOnlyNew) the store already held an assignment for them.
	Unchanged int
	// Lost entries were to be written, but another writer wrote the
	// user's assignment in their experiment first (FirstWriterWins): an
	// entry the store held nothing for, or a stored one that changed
	// after it was read. The store keeps the other writer's.
	Lost int
}

// Save writes the entries of p that change what the store holds, as the
// package documentation says, after validating all of p. If the stored
// entries cannot be read, SaveChanged writes p whole (rewriting an entry
// is better than losing a new one) and SaveOnlyNew writes nothing.
func (s *Service) Save(ctx context.Context, p ups.Profile, mode SaveMode) (SaveResult, error) {
	if err := p.Validate(); err != nil {
		return SaveResult{}, err
	}
	if p.Empty() {
		return SaveResult{}, nil
	}
	stored, err := s.stored(ctx, p)
	if err != nil {
		if mode == SaveOnlyNew {
			return SaveResult{}, fmt.Errorf("sdkprofiles: save user %q: read the stored assignments: %w", p.UserID, err)
		}
		stored = ups.Profile{}
	}
	var (
		res            SaveResult
		fresh, rewrite ups.Profile
	)
	now := s.opts.Now()
	for expID, a := range p.Assignments {
		old, had := stored.Assignments[expID]
		switch {
		case !had:
			add(&fresh, p.UserID, expID, ups.Assignment{VariationID: a.VariationID})
		case s.voided(expID, old):
			add(&rewrite, p.UserID, expID, ups.Assignment{VariationID: a.VariationID})
		case mode == SaveOnlyNew:
			res.Unchanged++
		case old.VariationID != a.VariationID:
			add(&rewrite, p.UserID, expID, ups.Assignment{VariationID: a.VariationID})
		case s.refreshDue(old, now):
			add(&rewrite, p.UserID, expID, ups.Assignment{VariationID: a.VariationID, DecidedAt: old.DecidedAt})
		default:
			res.Unchanged++
		}
	}
	rewriting := !rewrite.Empty()
	all := merge(rewrite, fresh)
	if all.Empty() {
		return res, nil
	}
	switch {
	case s.fw == nil:
		if err := s.store.Save(ctx, all); err != nil {
			return res, fmt.Errorf("sdkprofiles: save user %q: %w", p.UserID, err)
		}
	case !rewriting:
		won, err := s.fw.SaveFirst(ctx, all)
		if err != nil {
			return res, fmt.Errorf("sdkprofiles: save user %q first: %w", p.UserID, err)
		}
		res.Lost += len(won.Assignments)
	default:
		// Each rewrite only if the store still holds what was read for
		// it; the new entries, in the same write, only where it holds
		// nothing.
		won, err := s.replacer.SaveReplacing(ctx, all, stored.Assignments)
		if err != nil {
			return res, fmt.Errorf("sdkprofiles: save user %q replacing: %w", p.UserID, err)
		}
		res.Lost += len(won.Assignments)
	}
	res.Written += len(all.Assignments) - res.Lost
	return res, nil
}

// refreshDue reports whether a served assignment expires within
// RefreshAfter of now.
func (s *Service) refreshDue(a ups.Assignment, now time.Time) bool {
	return s.opts.RefreshAfter > 0 && !a.ExpiresAt.IsZero() && a.ExpiresAt.Sub(now) < s.opts.RefreshAfter
}

// stored reads the user's live assignments among p's experiments: one
// scoped read when the store offers it.
func (s *Service) stored(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	return s.scoped.LookupExperiments(ctx, p.UserID, slices.Collect(maps.Keys(p.Assignments)))
}

func add(p *ups.Profile, userID, expID string, a ups.Assignment) {
	if p.Assignments == nil {
		*p = ups.Profile{UserID: userID, Assignments: map[string]ups.Assignment{}}
	}
	p.Assignments[expID] = a
}

func merge(a, b ups.Profile) ups.Profile {
	if b.Empty() {
		return a
	}
	if a.Empty() {
		return b
	}
	maps.Copy(a.Assignments, b.Assignments)
	return a
}
