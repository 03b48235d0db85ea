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
// Three layers wrap any Service and can be stacked in any order; each
// implements every optional capability (ScopedLookuper, AssignmentLookuper,
// Deleter, FirstWriter, Closer) by passing it to the Service it wraps:
//
//   - Cache serves repeated lookups from memory for up to a TTL, never
//     caching a read that raced with a write of its user, and with one
//     store read for concurrent misses of one user.
//   - AsyncSaver queues saves and writes them in the background, in each
//     user's order, merged while they wait, retried while the store is
//     unavailable, and visible to lookups through it at once.
//   - Breaker fails calls at once with ErrCircuitOpen while the store keeps
//     failing, and reports its Health.
//
// A typical stack is Cache(AsyncSaver(Breaker(store))).
package ups
