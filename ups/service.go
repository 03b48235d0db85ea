package ups

import (
	"context"
	"errors"
	"fmt"
)

// Service is a user profile service: the store that keeps a user's
// experiment assignments sticky.
//
// It mirrors Optimizely's lookup/save contract, with a context and errors so
// a slow or failing backend can be bounded and reported instead of silently
// re-bucketing users.
type Service interface {
	// Lookup returns the user's live (unexpired) assignments. An unknown user
	// is not an error: it yields an empty profile with UserID set.
	Lookup(ctx context.Context, userID string) (Profile, error)
	// Save upserts every assignment in p as its own record. It never reads
	// and rewrites the whole profile, so concurrent saves for one user do not
	// lose each other's assignments.
	//
	// An assignment's DecidedAt, when set, is kept as its decision time (a
	// refreshed assignment keeps the time it was first decided); zero means
	// now. Its ExpiresAt is ignored: the store's retention sets it, counted
	// from the save.
	Save(ctx context.Context, p Profile) error
}

// The optional capabilities below are implemented by the stores that can,
// as database/sql's optional driver interfaces are. Every layer of this
// package (Cache, AsyncSaver, Breaker, Observed) implements them all,
// passing each on to the Service it wraps, so a type assertion on a layer
// says nothing: As (capabilities.go) says whether the store under every
// layer has one.

// ScopedLookuper is implemented by stores that can read just some of a
// user's assignments. A decision about one experiment or flag needs one or
// two entries, while a long-lived user may hold dozens; reading only those
// saves copying (in memory) and transfer (in Cassandra). Callers use it
// when a store offers it and fall back to Service.Lookup otherwise.
type ScopedLookuper interface {
	// LookupExperiments is Lookup restricted to experimentIDs: the profile
	// holds the live assignments among them, and no others.
	LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error)
}

// AssignmentLookuper is implemented by stores that can read one assignment
// without building a profile: the common decision about one experiment,
// with no allocation on a cache hit.
type AssignmentLookuper interface {
	// LookupAssignment returns the user's live assignment in experimentID;
	// ok is false when there is none.
	LookupAssignment(ctx context.Context, userID, experimentID string) (a Assignment, ok bool, err error)
}

// Deleter is implemented by stores that can erase a user.
type Deleter interface {
	// Delete erases every assignment of userID. Deleting an unknown user is
	// not an error. Saves of that user accepted before Delete are not
	// applied after it.
	Delete(ctx context.Context, userID string) error
}

// FirstWriter is implemented by stores that can write an assignment only
// if the user has none for that experiment yet (Cassandra: INSERT … IF NOT
// EXISTS), so servers deciding one new user at the same moment agree on
// one variation.
type FirstWriter interface {
	// SaveFirst writes each assignment of p whose experiment has no live
	// assignment for the user. It returns the stored assignments that won
	// over p's, keyed by experiment ID (empty when all of p was written).
	SaveFirst(ctx context.Context, p Profile) (Profile, error)
}

// Replacer is implemented by stores that can write an assignment only if
// the user's stored one is still the one the caller read (Cassandra: a
// lightweight transaction, UPDATE … IF variation_id = ? AND decided_at =
// ?), so servers that replace or refresh one user's assignment at the
// same moment agree on one variation, as FirstWriter makes them agree on
// a first one.
//
// The stored assignment is compared by variation and decision time: a
// replacement that bucketed the user into the variation it replaces (an
// experiment reset, most users keep their hash) still changes DecidedAt,
// so a writer that read the assignment before it does not win over it.
type Replacer interface {
	// SaveReplacing writes each assignment of p only if the user's stored
	// assignment in its experiment is still was[experimentID] (the same
	// VariationID and the same DecidedAt to the millisecond, the
	// precision of Cassandra's timestamps), or, for an experiment was has
	// no entry for, only if the user has none there (as SaveFirst). A
	// stored assignment that is gone since the caller read it (expired
	// or deleted) counts as none: the write goes ahead. Entries of was
	// for experiments p does not hold are ignored.
	//
	// It returns the stored assignments that won over p's, keyed by
	// experiment ID (empty when all of p was written).
	SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error)
}

// Closer is the one lifecycle of every store and layer. Close stops the
// goroutines the value started and finishes its pending work, or gives up
// on it when ctx ends and says how much was left undone; then it closes
// the Service it wraps, if any (see Close). Calls after Close fail with
// ErrClosed.
//
// Close is idempotent: a Close after the first does nothing and returns
// nil, whatever the first returned.
type Closer interface {
	Close(ctx context.Context) error
}

// ErrClosed is returned by calls on a store or layer after Close.
var ErrClosed = errors.New("ups: closed")

// ErrUnavailable is wrapped by the errors of a store that could not answer
// in time or could not reach enough replicas: a condition that may pass, so
// the call may be retried and counts against the store's health. Invalid
// input (ErrInvalidProfile) never wraps it.
var ErrUnavailable = errors.New("ups: profile store unavailable")

// ErrTimeout is wrapped by the errors of a store whose call ran out of
// time (a driver or server timeout): the store may be slow rather than
// down. It wraps ErrUnavailable.
var ErrTimeout = fmt.Errorf("ups: profile store timed out: %w", ErrUnavailable)

// Unavailable reports whether err means the store could not answer (it
// wraps ErrUnavailable or a context deadline), as opposed to bad input or a
// cancelled caller.
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// TimedOut reports whether err means a call ran out of time — the store's
// own timeout (ErrTimeout) or the caller's deadline — rather than a store
// that said it cannot serve (no replicas, connection refused). A slow
// store and a dead one look alike to one call; only timeouts that persist
// tell them apart (see Breaker).
func TimedOut(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}
