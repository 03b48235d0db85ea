package ups

import "context"

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
	Save(ctx context.Context, p Profile) error
}

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
