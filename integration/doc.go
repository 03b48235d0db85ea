// Package integration holds stickybucket's tests against a real Apache
// Cassandra. The package has no code of its own: its tests start one
// Cassandra node per test binary with testcontainers-go (image from
// STICKYBUCKET_CASSANDRA_IMAGE, default cassandra:5.0, host networking on a
// free loopback address, Ryuk off), or use an existing cluster named by
// CASSANDRA_HOSTS, and exercise the cassandra store, its migrations and its
// TTLs end to end.
//
// Run them with `make test` (which provisions Docker and the image) or
// `go test ./integration/`. Outside CI, a machine without Docker skips them
// with a message; with CI=true that is a failure.
package integration
