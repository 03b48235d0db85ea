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
