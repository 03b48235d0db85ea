// Package sdkprofiles is the user profile service of Optimizely's SDKs —
// a whole profile read by lookup and written back whole by save — over a
// ups.Service, keeping stickybucket's stickiness rules.
//
// An SDK looks a user's profile up before deciding and saves the whole
// profile back after, every entry included. Written as is, every save
// would rewrite every assignment of the user and restart its retention.
// Service.Save instead reads what the store holds for those experiments
// and writes only what changed:
//
//   - an entry the store has no live assignment for is new: written;
//   - an entry whose variation differs replaces the stored one (the SDK
//     does that when a saved variation left the experiment);
//   - an unchanged entry is written again only when its assignment expires
//     within RefreshAfter, keeping its decision time (sliding retention);
//     otherwise it costs nothing.
//
// With first writer wins every one of those writes is conditional: a new
// entry is written only if no other writer got there first, a changed or
// refreshed one only if the store still holds the assignment read for it
// (another server may have replaced it since); the other writer's stays,
// and the save counts the entry as lost.
//
// SDKs save only when a decision changed the profile, so a returning
// user's profile is never saved again: Lookup refreshes the assignments
// that are due instead.
//
// Lookup hides assignments decided at or before an experiment's reset, so
// the SDK buckets the user again and its save replaces them. (A reset that
// excludes previous users, decision.Reset.ExcludePrevious, cannot be told
// to an SDK through a profile: on this path it re-buckets them too.)
//
// The server's /v1/ups/lookup and /v1/ups/save routes and package
// optimizelyups (the official Go SDK in process) both go through it.
package sdkprofiles
