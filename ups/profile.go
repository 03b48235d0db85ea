package ups

import (
	"maps"
	"time"
)

// Assignment is one sticky decision: the variation a user got in one
// experiment.
type Assignment struct {
	// VariationID is the Optimizely variation ID (not its key), as the SDKs
	// store it.
	VariationID string
	// DecidedAt is when the assignment was written. Zero when unknown, for
	// example for profiles read from Optimizely JSON, which has no such field.
	DecidedAt time.Time
	// ExpiresAt is when the assignment stops being sticky. Zero means it
	// never expires or that the store does not know.
	ExpiresAt time.Time
}

// SameDecision reports whether a and b are one decision: the same
// variation, decided at the same millisecond (the precision of
// Cassandra's timestamps). Replacer compares a stored assignment with the
// one its caller read this way; ExpiresAt, which every save renews, is
// not compared.
func (a Assignment) SameDecision(b Assignment) bool {
	return a.VariationID == b.VariationID &&
		a.DecidedAt.Truncate(time.Millisecond).Equal(b.DecidedAt.Truncate(time.Millisecond))
}

// Profile is what a user profile service keeps for one user: the user ID and
// its assignments keyed by experiment ID.
//
// A Profile given to Service.Save is a set of upserts: only the assignments
// it holds are written, and assignments stored earlier for other experiments
// are left alone.
type Profile struct {
	UserID      string
	Assignments map[string]Assignment
}

// NewProfile returns an empty profile for userID, ready for Set.
func NewProfile(userID string) Profile {
	return Profile{UserID: userID, Assignments: map[string]Assignment{}}
}

// Variation returns the variation ID saved for experimentID, if any.
func (p Profile) Variation(experimentID string) (string, bool) {
	a, ok := p.Assignments[experimentID]
	if !ok || a.VariationID == "" {
		return "", false
	}
	return a.VariationID, true
}

// Set records variationID for experimentID, allocating the map if needed.
func (p *Profile) Set(experimentID, variationID string) {
	if p.Assignments == nil {
		p.Assignments = map[string]Assignment{}
	}
	p.Assignments[experimentID] = Assignment{VariationID: variationID}
}

// Clone returns a deep copy so callers and stores never share a map.
func (p Profile) Clone() Profile {
	c := Profile{UserID: p.UserID}
	if p.Assignments != nil {
		c.Assignments = maps.Clone(p.Assignments)
	}
	return c
}

// Empty reports whether the profile holds no assignment.
func (p Profile) Empty() bool { return len(p.Assignments) == 0 }

// subset copies the live assignments of ids.
func (p Profile) subset(ids []string, now time.Time) Profile {
	out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, min(len(ids), len(p.Assignments)))}
	for _, id := range ids {
		if a, ok := p.Assignments[id]; ok && live(a, now) {
			out.Assignments[id] = a
		}
	}
	return out
}

// pick copies the assignments of ids, whether live or not: for a profile
// that Lookup returned, which holds live ones only by the store's clock.
func (p Profile) pick(ids []string) Profile {
	out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, min(len(ids), len(p.Assignments)))}
	for _, id := range ids {
		if a, ok := p.Assignments[id]; ok {
			out.Assignments[id] = a
		}
	}
	return out
}

// liveCopy copies the live assignments.
func liveCopy(p Profile, now time.Time) Profile {
	out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, len(p.Assignments))}
	for expID, a := range p.Assignments {
		if live(a, now) {
			out.Assignments[expID] = a
		}
	}
	return out
}
