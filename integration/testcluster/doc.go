// Package testcluster starts throwaway Apache Cassandra clusters for tests,
// as net/http/httptest starts throwaway HTTP servers: one or more nodes in
// one or more datacenters, each a Docker container (testcontainers-go) on
// the host network bound to its own free loopback address (127.0.0.254,
// 127.0.0.253, …: ports 9042 and 7000 free and no other container told to
// bind it), so several nodes share one machine the way ccm runs them.
//
// Start is meant to run once per test binary, from TestMain: a node takes
// tens of seconds to start and a four-node cluster about a minute. Nodes
// start one after another (Cassandra refuses concurrent bootstraps), each
// waiting until it answers CQL; the first node of each datacenter is a
// seed; the nodes use GossipingPropertyFileSnitch with the datacenter and
// rack given in Options. Start returns once every node sees every other
// node alive.
//
// Liveness and hints are read over CQL, without JMX: a node is alive to an
// observer when the observer's system_views.gossip_info shows the node's
// current generation with a heartbeat that advances and a NORMAL status;
// hints waiting for delivery are listed in system_views.pending_hints and,
// for the file still being written (which that table leaves out), in the
// node's hints directory.
//
// Faults are real: Node.Kill sends SIGKILL (docker kill), Node.Stop shuts
// the node down gracefully, Node.Pause freezes it (docker pause), and
// Node.Start and Node.Unpause wait until it is back in the ring.
//
// The image comes from Options.Image or STICKYBUCKET_CASSANDRA_IMAGE (the
// project's local image from docker/cassandra/image.sh; the official
// cassandra:5.0 works too but ignores the fast-start knobs). With
// CASSANDRA_HOSTS set, FromEnv attaches to an existing cluster instead:
// its nodes are described, but cannot be killed or restarted.
//
// Cluster.Close removes every container the cluster started, also after a
// failed Start. Ryuk, testcontainers' reaper, is disabled unless
// TESTCONTAINERS_RYUK_DISABLED says otherwise: its image cannot be pulled
// everywhere, and the cluster removes its own containers.
package testcluster
