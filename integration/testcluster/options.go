package testcluster

import (
	"fmt"
	"log"
	"os"
	"regexp"
	"strings"
	"time"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultImage is used when neither Options.Image nor
	// STICKYBUCKET_CASSANDRA_IMAGE names one.
	DefaultImage = "cassandra:5.0"
	// DefaultDC is the datacenter of a node whose NodeOptions.DC is empty:
	// Cassandra's own default name.
	DefaultDC = "datacenter1"
	// DefaultRack is the rack of a node whose NodeOptions.Rack is empty.
	DefaultRack = "rack1"
	// CQLPort is the native protocol port every started node listens on,
	// each on its own loopback address.
	CQLPort = 9042
	// StoragePort is the internode port every started node listens on.
	StoragePort = 7000
)

// ImageEnv names the environment variable that chooses the image when
// Options.Image is empty; `make test` sets it from docker/cassandra/image.sh.
const ImageEnv = "STICKYBUCKET_CASSANDRA_IMAGE"

// NodeOptions describes one node.
type NodeOptions struct {
	// DC is the node's datacenter; empty means DefaultDC.
	DC string
	// Rack is the node's rack; empty means DefaultRack.
	Rack string
	// TokenAllocationRF is the replication factor the node's tokens are
	// balanced for (allocate_tokens_for_local_replication_factor); zero
	// means the number of nodes in its DC, at most 3.
	TokenAllocationRF int
}

// Options configures Start. The zero value starts one node in DefaultDC.
type Options struct {
	// Nodes lists the nodes in start order. The first node of each DC is a
	// seed. Empty means one node with default options.
	Nodes []NodeOptions
	// Image is the Docker image to run; empty means the value of ImageEnv,
	// or DefaultImage when that is empty too.
	Image string
	// ClusterName is Cassandra's cluster_name; empty means a random name
	// unique to this cluster, which also proves that an answering node is
	// one of ours and not a stray one from another run.
	ClusterName string
	// Heap and HeapNew are MAX_HEAP_SIZE and HEAP_NEWSIZE, such as "512M";
	// empty means 512M and 128M. A node then takes 0.5 to 0.7 GiB of
	// memory.
	Heap, HeapNew string
	// NumTokens is num_tokens; zero means 16.
	NumTokens int
	// RingDelay is how long a starting node listens to gossip before it
	// joins (-Dcassandra.ring_delay_ms); zero means 100ms for a one-node
	// cluster and 5s otherwise. Cassandra's own default is 30s.
	RingDelay time.Duration
	// NodeStartTimeout bounds the start of one node, from docker start to
	// answering CQL; zero means 5 minutes (two busy cores start a node in
	// 10 to 30 seconds).
	NodeStartTimeout time.Duration
	// JVMOptions are appended to the JVM command line (JVM_EXTRA_OPTS).
	JVMOptions []string
	// Logf receives progress and timings; nil means log.Printf.
	Logf func(format string, args ...any)
}

// names Cassandra accepts for datacenters and racks, kept to characters
// that are safe in the image's properties file, in container names and in
// CQL replication maps.
var dcRackName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

// clusterName must survive the image's sed and YAML without quoting.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$`)

// heapSize is a JVM memory size such as 512M or 1G.
var heapSize = regexp.MustCompile(`^[1-9][0-9]*[kKmMgG]$`)

// withDefaults validates o and fills in its zero fields.
func (o Options) withDefaults(random string) (Options, error) {
	if len(o.Nodes) == 0 {
		o.Nodes = []NodeOptions{{}}
	}
	o.Nodes = append([]NodeOptions(nil), o.Nodes...)
	perDC := map[string]int{}
	for i := range o.Nodes {
		n := &o.Nodes[i]
		if n.DC == "" {
			n.DC = DefaultDC
		}
		if n.Rack == "" {
			n.Rack = DefaultRack
		}
		if !dcRackName.MatchString(n.DC) {
			return o, fmt.Errorf("testcluster: node %d: datacenter %q: want letters, digits, '_', '.', '-'", i, n.DC)
		}
		if !dcRackName.MatchString(n.Rack) {
			return o, fmt.Errorf("testcluster: node %d: rack %q: want letters, digits, '_', '.', '-'", i, n.Rack)
		}
		if n.TokenAllocationRF < 0 {
			return o, fmt.Errorf("testcluster: node %d: TokenAllocationRF %d is negative", i, n.TokenAllocationRF)
		}
		perDC[n.DC]++
	}
	for i := range o.Nodes {
		if o.Nodes[i].TokenAllocationRF == 0 {
			o.Nodes[i].TokenAllocationRF = min(perDC[o.Nodes[i].DC], 3)
		}
	}
	if o.Image == "" {
		o.Image = os.Getenv(ImageEnv)
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.ClusterName == "" {
		o.ClusterName = "sbtest-" + random
	}
	if !clusterName.MatchString(o.ClusterName) {
		return o, fmt.Errorf("testcluster: cluster name %q: want letters, digits, spaces, '_', '.', '-'", o.ClusterName)
	}
	if o.Heap == "" {
		o.Heap = "512M"
	}
	if o.HeapNew == "" {
		o.HeapNew = "128M"
	}
	for _, h := range []string{o.Heap, o.HeapNew} {
		if !heapSize.MatchString(h) {
			return o, fmt.Errorf("testcluster: heap size %q: want a number and K, M or G, such as 512M", h)
		}
	}
	if o.NumTokens == 0 {
		o.NumTokens = 16
	}
	if o.NumTokens < 0 {
		return o, fmt.Errorf("testcluster: NumTokens %d is negative", o.NumTokens)
	}
	if o.RingDelay == 0 {
		o.RingDelay = 5 * time.Second
		if len(o.Nodes) == 1 {
			o.RingDelay = 100 * time.Millisecond
		}
	}
	if o.RingDelay < 0 {
		return o, fmt.Errorf("testcluster: RingDelay %v is negative", o.RingDelay)
	}
	if o.NodeStartTimeout == 0 {
		o.NodeStartTimeout = 5 * time.Minute
	}
	for _, opt := range o.JVMOptions {
		if opt == "" || strings.ContainsAny(opt, " \t\n'\"\\") {
			return o, fmt.Errorf("testcluster: JVM option %q: want one word without quotes or backslashes", opt)
		}
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return o, nil
}

// seeds returns the addresses of the first node of each DC, in start order.
func seeds(nodes []NodeOptions, addrs []string) []string {
	seen := map[string]bool{}
	var s []string
	for i, n := range nodes {
		if !seen[n.DC] {
			seen[n.DC] = true
			s = append(s, addrs[i])
		}
	}
	return s
}

// env is the container environment of node i: the official image's
// variables plus the local image's fast-start knobs (entrypoint.sh).
func (o Options) env(i int, addr string, seeds []string) map[string]string {
	n := o.Nodes[i]
	return map[string]string{
		"CASSANDRA_LISTEN_ADDRESS":                 addr,
		"CASSANDRA_BROADCAST_ADDRESS":              addr,
		"CASSANDRA_RPC_ADDRESS":                    addr,
		"CASSANDRA_BROADCAST_RPC_ADDRESS":          addr,
		"CASSANDRA_SEEDS":                          strings.Join(seeds, ","),
		"CASSANDRA_CLUSTER_NAME":                   o.ClusterName,
		"CASSANDRA_DC":                             n.DC,
		"CASSANDRA_RACK":                           n.Rack,
		"CASSANDRA_ENDPOINT_SNITCH":                "GossipingPropertyFileSnitch",
		"CASSANDRA_NUM_TOKENS":                     fmt.Sprint(o.NumTokens),
		"CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF":   fmt.Sprint(n.TokenAllocationRF),
		"CASSANDRA_RING_DELAY_MS":                  fmt.Sprint(o.RingDelay.Milliseconds()),
		"CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE": "0",
		"MAX_HEAP_SIZE":                            o.Heap,
		"HEAP_NEWSIZE":                             o.HeapNew,
		"JVM_EXTRA_OPTS":                           strings.Join(o.JVMOptions, " "),
	}
}
