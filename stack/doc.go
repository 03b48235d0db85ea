// Package stack is stickybucket's composition root: it builds the whole
// profile stack from configuration — the store (memory or Cassandra), the
// layers above it and the decision clients that use it — and closes it in
// order. `stickybucket serve`, the admin commands, `stickybucket decide`
// and the integration tests all build their stack here, so every one of
// them runs the same wiring. It is the one package that reads both config
// and the packages it configures: it converts the configuration into
// package cassandra's own options (CassandraClusterOptions,
// CassandraStoreOptions, CassandraMigrateOptions), so cassandra knows
// nothing of config.
//
// Service is the whole of `stickybucket serve` on top of the stack: the
// datafiles (files watched, URLs polled, all reloaded on SIGHUP) with a
// decision client each, the API and admin listeners (tokens, TLS, metrics,
// readiness), and the signals. NewService starts it; Run serves until its
// context ends, SIGINT or SIGTERM arrives, or a listener fails, then
// closes the listeners (requests in flight finish within
// server.shutdown_timeout), the datafile watchers and the stack (pending
// saves drained). The command only parses flags and loads configuration.
//
// Every Close here (Stack's, Service's) is idempotent: a second call does
// nothing and returns nil.
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
