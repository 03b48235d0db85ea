// Package integration holds stickybucket's tests against a real Apache
// Cassandra. The package has no code of its own: its TestMain starts a
// one-node cluster per test binary with the testcluster harness (image from
// STICKYBUCKET_CASSANDRA_IMAGE, default cassandra:5.0, host networking on a
// free loopback address, Ryuk off), or uses an existing cluster named by
// CASSANDRA_HOSTS (and CASSANDRA_PORT), and exercises the cassandra store,
// its migrations and its TTLs end to end. Multi-datacenter behaviour and
// node failures are tested in integration/multidc.
//
// Run them with `make test` (which provisions Docker and the image) or
// `go test ./integration/`. Outside CI, a machine without Docker skips them
// with a message; with CI=true that is a failure.
package integration
