// Package optimizelyups plugs any ups.Service — the Cassandra store, the
// in-memory store, or either behind the cache and async layers — into the
// official Optimizely Go SDK (github.com/optimizely/go-sdk/v2) as its user
// profile service:
//
//	profiles, err := optimizelyups.New(store, optimizelyups.Options{OnError: logIt})
//	…
//	optimizely, err := (&client.OptimizelyFactory{SDKKey: key}).Client(
//		client.WithUserProfileService(profiles))
//
// The SDK's interface, Lookup(userID) UserProfile and Save(UserProfile), has
// no context and returns no error. The adapter bounds every call with its
// own timeout and hands every failure to Options.OnError, so a slow or
// failing store neither blocks a decision nor goes unnoticed:
//
//   - a lookup that fails or times out returns an empty profile: the SDK
//     then buckets the user afresh, exactly as it does for a new user, and
//     serves that decision. It also saves it; that save writes only the
//     experiments the store holds no assignment for, so a lookup that
//     merely timed out never replaces a user's sticky variation;
//   - a save writes only the SDK's "variation_id" entries; an entry that
//     could not be stored (empty or oversized IDs, invalid UTF-8) is
//     reported and skipped, and the valid entries are still written;
//   - a save writes only the entries that are new or changed. The SDK hands
//     back the whole profile it looked up plus the new decision, and
//     rewriting the unchanged entries would restart their retention and
//     reset their decision time. The adapter reads the stored entries of
//     those experiments first (one scoped read when the store offers
//     ups.ScopedLookuper) and writes the difference; set
//     Options.RewriteUnchanged to skip that read. A changed entry is
//     written: that is how the SDK replaces a saved variation the datafile
//     no longer has.
//
// The timeouts rely on the store honouring its context, as every store in
// this module does; the adapter starts no goroutine of its own.
package optimizelyups
