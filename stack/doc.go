// Package stack is stickybucket's composition root: it builds the whole
// profile stack from configuration — the store (memory or Cassandra), the
// layers above it and the decision clients that use it — and closes it in
// order. `stickybucket serve`, the admin commands, `stickybucket decide`
// and the integration tests all build their stack here, so every one of
// them runs the same wiring.
//
// The layers, top to bottom, each optional but the store:
//
//	decision.Client   budget per decision, refresh, resets, first writer wins
//	ups.Cache         read-through cache (store.cache)
//	ups.AsyncSaver    saves off the request path (store.saves.mode: async)
//	ups.Breaker       fails fast while Cassandra is down (Cassandra only)
//	ups.Observed      metrics of every store call (when a registry is given)
//	store             ups.Memory or cassandra.Store
package stack
