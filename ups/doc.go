// Package ups is stickybucket's user profile service: the model of a
// user's sticky experiment assignments and the Service contract that
// stores implement.
//
// A Profile reads and writes Optimizely's JSON schema
// ({"user_id": …, "experiment_bucket_map": {…: {"variation_id": …}}}), so
// profiles move freely between stickybucket and Optimizely's SDKs. Unlike
// the SDKs' lookup/save, Service takes a context and returns errors, so a
// slow or failing backend is bounded and visible instead of silently
// re-bucketing users.
//
// Save is an upsert of the assignments it carries, never a rewrite of the
// whole profile: two servers deciding different experiments for one user at
// the same moment both keep their assignment. Every store honours a
// Retention: an assignment stops being sticky when its retention has passed
// since it was last saved.
//
// Memory is the in-process store; package cassandra holds the shared one.
//
// Four layers wrap any Service and can be stacked in any order:
//
//   - Cache serves repeated lookups from memory for up to a TTL, never
//     caching a read that raced with a write of its user, and with one
//     store read for concurrent misses of one user.
//   - AsyncSaver queues saves and writes them in the background, in each
//     user's order, merged while they wait, retried while the store is
//     unavailable, and visible to lookups through it at once.
//   - Breaker fails calls at once with ErrCircuitOpen while the store keeps
//     failing, and reports its Health.
//   - Observed reports every call, its duration and error, to a hook.
//
// A typical stack is Cache(AsyncSaver(Breaker(Observed(store)))).
//
// A store offers Service and any of the optional capabilities
// (ScopedLookuper, AssignmentLookuper, Deleter, FirstWriter, Replacer,
// Closer). Each layer implements them all (the Layer interface, which
// every layer is compiled against), passes each to the Service it wraps,
// and says what it wraps with Unwrap. capabilities.go is the one place that asks what a
// stack can do: As says whether the store under every layer has a
// capability; ScopedLookuperOf and AssignmentLookuperOf hand over the
// store's reads, made of Lookup where it has none; Close closes a stack
// from its top.
// Every Close is idempotent: a second does nothing and returns nil.
//
// Retention.Stamp is how every store and layer stamps a saved assignment.
package ups
