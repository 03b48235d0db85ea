package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// ErrDockerUnavailable is wrapped by Start's error when no Docker engine
// answers: callers outside CI skip their tests on it.
var ErrDockerUnavailable = errors.New("testcluster: no Docker engine")

// ErrNotManaged is returned by the fault methods of a node of an attached
// cluster (CASSANDRA_HOSTS): the harness did not start it and cannot stop it.
var ErrNotManaged = errors.New("testcluster: node not started by this harness")

// labelKey labels every container of a cluster with the cluster's ID, so
// Close finds them all even when a start failed half-way.
const labelKey = "dev.stickybucket.testcluster"

// Cluster is a running Cassandra cluster: started by Start in Docker, or an
// existing one described by Attach.
type Cluster struct {
	name   string // cluster_name
	id     string // label value and container name part
	port   int
	nodes  []*Node
	logf   func(format string, args ...any)
	docker *testcontainers.DockerProvider // nil when attached
	image  string

	closeOnce sync.Once
	closeErr  error
}

// FromEnv attaches to the cluster that CASSANDRA_HOSTS (comma-separated
// contact points) and CASSANDRA_PORT (default 9042) name, if set, and
// starts a new one with opts otherwise.
func FromEnv(ctx context.Context, opts Options) (*Cluster, error) {
	hosts := os.Getenv("CASSANDRA_HOSTS")
	if hosts == "" {
		return Start(ctx, opts)
	}
	port := CQLPort
	if p := os.Getenv("CASSANDRA_PORT"); p != "" {
		var err error
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("testcluster: CASSANDRA_PORT=%q is not a port number", p)
		}
	}
	logf := opts.Logf
	if logf == nil {
		logf = log.Printf
	}
	return Attach(ctx, strings.Split(hosts, ","), port, logf)
}

// Start starts the cluster opts describes and returns once every node
// answers CQL and sees every other node alive. On error, every container
// it created is already removed.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	id := randomHex(4)
	opts, err = opts.withDefaults(id)
	if err != nil {
		return nil, err
	}
	// testcontainers reads this once, at its first use. Ryuk's image cannot
	// be pulled everywhere, and Close removes what Start created.
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	docker, err := testcontainers.NewDockerProvider()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDockerUnavailable, err)
	}
	if err := docker.Health(ctx); err != nil {
		docker.Close()
		return nil, fmt.Errorf("%w: %v", ErrDockerUnavailable, err)
	}
	c := &Cluster{name: opts.ClusterName, id: id, port: CQLPort, logf: opts.Logf, docker: docker, image: opts.Image}
	defer func() {
		if err != nil {
			if cerr := c.Close(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()

	busy, err := busyAddrs(ctx, docker.Client())
	if err != nil {
		return nil, err
	}
	addrs, err := pickAddrs(len(opts.Nodes), busy)
	if err != nil {
		return nil, err
	}
	seedAddrs := seeds(opts.Nodes, addrs)
	for i, no := range opts.Nodes {
		c.nodes = append(c.nodes, &Node{
			cluster: c, index: i, addr: addrs[i], dc: no.DC, rack: no.Rack,
			seed: slices.Contains(seedAddrs, addrs[i]),
		})
	}
	c.logf("testcluster: starting %s: %d node(s) from %s: %s", c.name, len(c.nodes), opts.Image, c.layout())

	// Every container exists before the first starts, so a concurrent run
	// sees all these addresses as taken.
	for _, n := range c.nodes {
		if err := n.create(ctx, opts, seedAddrs); err != nil {
			return nil, err
		}
	}
	first := time.Now()
	for i, n := range c.nodes {
		began := time.Now()
		if err := n.boot(ctx); err != nil {
			return nil, err
		}
		if err := n.awaitCQL(ctx, opts.NodeStartTimeout); err != nil {
			return nil, err
		}
		role := ""
		if n.seed {
			role = ", seed"
		}
		c.logf("testcluster: node %d/%d %s (%s/%s%s) answered CQL after %s (%s since the first start)",
			i+1, len(c.nodes), n.addr, n.dc, n.rack, role, since(began), since(first))
	}
	if err := c.WaitAlive(ctx); err != nil {
		return nil, err
	}
	if len(c.nodes) > 1 {
		c.logf("testcluster: all %d nodes see each other alive %s after the first start", len(c.nodes), since(first))
		if own, err := c.TokenOwnership(ctx); err == nil {
			c.logf("testcluster: primary token ownership per DC: %s", own)
		} else {
			c.logf("testcluster: token ownership: %v", err)
		}
	}
	return c, nil
}

// Attach describes an existing cluster reachable at hosts on port: its
// nodes come from system.local and system.peers_v2 of the first host that
// answers. Their fault methods return ErrNotManaged.
func Attach(ctx context.Context, hosts []string, port int, logf func(format string, args ...any)) (*Cluster, error) {
	if logf == nil {
		logf = log.Printf
	}
	var errs []error
	for _, h := range hosts {
		c, err := attachVia(ctx, strings.TrimSpace(h), port, logf)
		if err == nil {
			logf("testcluster: attached to %q through %s port %d: %s", c.name, h, port, c.layout())
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("testcluster: attach to %v port %d: %w", hosts, port, errors.Join(errs...))
}

// attachVia describes the cluster as host sees it: itself in system.local,
// the others in system.peers_v2. Both queries must reach the same node, so
// the session is pinned to host.
func attachVia(ctx context.Context, host string, port int, logf func(format string, args ...any)) (*Cluster, error) {
	c := &Cluster{port: port, logf: logf}
	via := &Node{cluster: c, addr: host}
	var (
		addr     net.IP
		dc, rack string
	)
	err := via.query(ctx, func(s *gocql.Session) error {
		if err := s.Query("SELECT cluster_name, rpc_address, data_center, rack FROM system.local").WithContext(ctx).
			Scan(&c.name, &addr, &dc, &rack); err != nil {
			return fmt.Errorf("read system.local: %w", err)
		}
		c.nodes = append(c.nodes, &Node{cluster: c, addr: addr.String(), dc: dc, rack: rack, state: stateRunning})
		iter := s.Query("SELECT native_address, data_center, rack FROM system.peers_v2").WithContext(ctx).Iter()
		for iter.Scan(&addr, &dc, &rack) {
			c.nodes = append(c.nodes, &Node{cluster: c, addr: addr.String(), dc: dc, rack: rack, state: stateRunning})
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("read system.peers_v2: %w", err)
		}
		return nil
	})
	via.closeSession()
	if err != nil {
		return nil, fmt.Errorf("through %s: %w", host, err)
	}
	slices.SortFunc(c.nodes, func(a, b *Node) int { return strings.Compare(a.addr, b.addr) })
	for i, n := range c.nodes {
		n.index = i
	}
	return c, nil
}

// Close removes every container of the cluster, paused, stopped or
// running, even after a failed Start, and closes the harness's sessions.
// An attached cluster is left running. Calling Close again returns the
// first call's result.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { c.closeErr = c.close(ctx) })
	return c.closeErr
}

func (c *Cluster) close(ctx context.Context) error {
	var errs []error
	var addrs []string
	for _, n := range c.nodes {
		n.closeSession()
		addrs = append(addrs, n.addr)
		if err := n.remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.docker != nil {
		// Containers whose creation failed half-way are known by label only.
		docker := c.docker.Client()
		list, err := docker.ContainerList(ctx, client.ContainerListOptions{
			All: true, Filters: make(client.Filters).Add("label", labelKey+"="+c.id),
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("testcluster: list containers of %s: %w", c.name, err))
		}
		for _, ct := range list.Items {
			if ct.State == container.StatePaused {
				_, _ = docker.ContainerUnpause(ctx, ct.ID, client.ContainerUnpauseOptions{})
			}
			if _, err := docker.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				errs = append(errs, fmt.Errorf("testcluster: remove container %s: %w", ct.ID, err))
			}
		}
		if err := c.docker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("testcluster: close Docker client: %w", err))
		}
		release(addrs)
	}
	return errors.Join(errs...)
}

// Name is the cluster's cluster_name.
func (c *Cluster) Name() string { return c.name }

// Image is the Docker image the nodes run; empty for an attached cluster.
func (c *Cluster) Image() string { return c.image }

// Managed reports whether the harness started the nodes, so that they can
// be killed, stopped, paused and started.
func (c *Cluster) Managed() bool { return c.docker != nil }

// Nodes returns every node in start order.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Node returns the i-th node in start order.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// NodesIn returns the nodes of datacenter dc in start order.
func (c *Cluster) NodesIn(dc string) []*Node {
	var ns []*Node
	for _, n := range c.nodes {
		if n.dc == dc {
			ns = append(ns, n)
		}
	}
	return ns
}

// Layout counts the nodes per datacenter.
func (c *Cluster) Layout() map[string]int {
	m := map[string]int{}
	for _, n := range c.nodes {
		m[n.dc]++
	}
	return m
}

func (c *Cluster) layout() string {
	parts := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		parts[i] = n.addr + " " + n.dc + "/" + n.rack
	}
	return strings.Join(parts, ", ")
}

// Hosts returns the CQL addresses of every node, in start order.
func (c *Cluster) Hosts() []string {
	hs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		hs[i] = n.addr
	}
	return hs
}

// Port is the CQL port of every node.
func (c *Cluster) Port() int { return c.port }

// ClusterConfig returns a new gocql configuration for the whole cluster:
// every node as a contact point, token-aware routing over a DC-aware
// round robin preferring localDC (plain round robin when localDC is
// empty), LOCAL_QUORUM, 5s timeouts and gocql's log discarded (a killed
// node makes it log every reconnection attempt).
//
// Every call builds a new host selection policy: gocql panics when a
// token-aware policy serves a second session, so create one session per
// call, and do not copy the returned struct to create another.
func (c *Cluster) ClusterConfig(localDC string) *gocql.ClusterConfig {
	cfg := gocql.NewCluster(c.Hosts()...)
	cfg.Port = c.port
	cfg.Timeout = 5 * time.Second
	cfg.ConnectTimeout = 5 * time.Second
	cfg.Consistency = gocql.LocalQuorum
	fallback := gocql.RoundRobinHostPolicy()
	if localDC != "" {
		fallback = gocql.DCAwareRoundRobinPolicy(localDC)
	}
	cfg.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(fallback)
	cfg.Logger = log.New(io.Discard, "", 0)
	return cfg
}

// running returns the nodes that are up and not paused.
func (c *Cluster) running() []*Node {
	var ns []*Node
	for _, n := range c.nodes {
		if n.Running() {
			ns = append(ns, n)
		}
	}
	return ns
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
