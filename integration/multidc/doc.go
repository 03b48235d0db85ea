// Package multidc tests stickybucket's Cassandra store on a cluster of four
// nodes in two datacenters, the smallest shape of a multi-region fleet:
// dc1 with three nodes and dc2 with one, GossipingPropertyFileSnitch, and
// keyspaces replicated with NetworkTopologyStrategy {dc1: 3, dc2: 1}.
//
// TestMain starts the cluster once with the testcluster harness (about a
// minute on two cores, 0.5 to 0.7 GiB per node). The tests use the real
// cassandra.Store on sessions configured by cassandra.NewCluster
// (token-aware, DC-aware), keyspaces made by cassandra.Migrate, and real
// faults: a dc1 node is killed with SIGKILL while saves run, paused with
// docker pause, and stopped.
//
// With CASSANDRA_HOSTS set, the tests run against that cluster if it has
// this layout (datacenters dc1 with three nodes and dc2 with one), and the
// fault tests are skipped; any other layout skips the package with a
// message. Without Docker the package is skipped too, except with CI=true,
// where that is a failure.
package multidc
