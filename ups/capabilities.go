package ups

import (
	"context"
	"errors"
	"fmt"
)

// This file is the one place that knows which capabilities a Service has.
//
// A store implements Service and any of the optional capabilities
// (ScopedLookuper, AssignmentLookuper, Deleter, FirstWriter, Replacer,
// Closer; see service.go), as database/sql drivers implement optional
// interfaces. A layer (Cache, AsyncSaver, Breaker, Observed, Traced) implements
// all of them, whatever the Service it wraps offers, and says what it
// wraps with Unwrap, as the errors and net/http's ResponseController walk
// Unwrap. So a type assertion on the top of a stack says nothing about the
// store at its bottom: ask As instead.

// Layer is what every layer of this package implements: Service, every
// optional capability, and Unwrap. Each layer is checked against it below,
// so a capability added here fails to compile in every layer that does not
// pass it on, and a test checks that every capability is listed here.
type Layer interface {
	Service
	ScopedLookuper
	AssignmentLookuper
	Deleter
	FirstWriter
	Replacer
	Closer
	// Unwrap returns the Service the layer wraps.
	Unwrap() Service
}

var (
	_ Layer = (*Cache)(nil)
	_ Layer = (*AsyncSaver)(nil)
	_ Layer = (*Breaker)(nil)
	_ Layer = (*Observed)(nil)
	_ Layer = (*Traced)(nil)
)

// As returns s as a C, a capability interface, when s and every Service
// under it (through Unwrap) implement C: that is, when the store at the
// bottom really does it, and every layer passes it on. Otherwise it
// returns false, and the layers' own C would fail or make do.
//
// Callers resolve what they need once, when they are built, rather than
// on every call. Closer is the one capability not to ask this way: every
// layer has a Close of its own; see Close.
func As[C any](s Service) (C, bool) {
	c, ok := s.(C)
	if !ok {
		return c, false
	}
	for below := s; ; {
		u, ok := below.(interface{ Unwrap() Service })
		if !ok {
			return c, true
		}
		if below = u.Unwrap(); below == nil {
			return c, true
		}
		if _, ok := below.(C); !ok {
			var none C
			return none, false
		}
	}
}

// ScopedLookuperOf returns the way to read some of a user's assignments
// from s: s itself when the store under it reads them (As), else a
// reader that looks the whole profile up and keeps the assignments asked
// for.
func ScopedLookuperOf(s Service) ScopedLookuper {
	if sl, ok := As[ScopedLookuper](s); ok {
		return sl
	}
	return experimentsFromLookup{s}
}

// AssignmentLookuperOf returns the way to read one assignment from s: s
// itself when the store under it reads single assignments (As), else a
// reader that asks ScopedLookuperOf(s) for that one experiment.
func AssignmentLookuperOf(s Service) AssignmentLookuper {
	if al, ok := As[AssignmentLookuper](s); ok {
		return al
	}
	return assignmentFromExperiments{ScopedLookuperOf(s)}
}

// experimentsFromLookup is LookupExperiments made of Lookup.
type experimentsFromLookup struct{ s Service }

func (d experimentsFromLookup) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	return experimentsFrom(ctx, d.s, userID, experimentIDs)
}

// experimentsFrom reads the user's whole profile from s (its live
// assignments, by the store's clock) and keeps those of ids.
func experimentsFrom(ctx context.Context, s Service, userID string, ids []string) (Profile, error) {
	p, err := s.Lookup(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	return p.pick(ids), nil
}

// assignmentFromExperiments is LookupAssignment made of LookupExperiments.
type assignmentFromExperiments struct{ sl ScopedLookuper }

func (d assignmentFromExperiments) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	return assignmentFrom(ctx, d.sl, userID, experimentID)
}

// assignmentFrom reads one experiment's live assignment through sl.
func assignmentFrom(ctx context.Context, sl ScopedLookuper, userID, experimentID string) (Assignment, bool, error) {
	p, err := sl.LookupExperiments(ctx, userID, []string{experimentID})
	if err != nil {
		return Assignment{}, false, err
	}
	a, ok := p.Assignments[experimentID]
	return a, ok, nil
}

// Close closes s if it is a Closer, and returns nil if it is not. Unlike
// the other capabilities, Close is asked of s itself, not through As:
// every layer has its own Close, which stops what the layer started and
// then closes what it wraps in turn (with this function), so closing the
// top of a stack closes the whole stack, whatever the store offers.
func Close(ctx context.Context, s Service) error {
	if c, ok := s.(Closer); ok {
		return c.Close(ctx)
	}
	return nil
}

// unsupported is the error of a layer asked for a capability that the
// store under it lacks.
func unsupported(layer, op, userID, capability string) error {
	return fmt.Errorf("ups: %s: %s user %q: the store is not a %s: %w", layer, op, userID, capability, errors.ErrUnsupported)
}
