package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	defaultImage = "cassandra:5.0"
	cqlPort      = 9042
	// startTimeout is generous: on two cores a cold Cassandra takes tens of
	// seconds, more when the machine is busy compiling other test binaries.
	startTimeout = 5 * time.Minute
)

// node is the Cassandra the tests talk to: a container this binary started,
// or an existing cluster from CASSANDRA_HOSTS.
type node struct {
	hosts     []string
	port      int
	container testcontainers.Container // nil for an existing cluster
}

func (n *node) cluster() *gocql.ClusterConfig {
	c := gocql.NewCluster(n.hosts...)
	c.Port = n.port
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.LocalOne
	// The restart test makes gocql log every failed reconnect; the tests
	// assert on errors themselves.
	c.Logger = log.New(io.Discard, "", 0)
	return c
}

// startNode returns the node to test against. errDockerUnavailable means
// there is no Docker engine to start one with.
func startNode(ctx context.Context) (*node, error) {
	if hosts := os.Getenv("CASSANDRA_HOSTS"); hosts != "" {
		port := cqlPort
		if p := os.Getenv("CASSANDRA_PORT"); p != "" {
			var err error
			if port, err = strconv.Atoi(p); err != nil {
				return nil, fmt.Errorf("CASSANDRA_PORT=%q: %w", p, err)
			}
		}
		return &node{hosts: strings.Split(hosts, ","), port: port}, nil
	}
	// Ryuk's image cannot be pulled here, and we remove our own container.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	if err := dockerAvailable(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", errDockerUnavailable, err)
	}
	image := os.Getenv("STICKYBUCKET_CASSANDRA_IMAGE")
	if image == "" {
		image = defaultImage
	}
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	req := testcontainers.ContainerRequest{
		Image: image,
		Env: map[string]string{
			"CASSANDRA_LISTEN_ADDRESS":        addr,
			"CASSANDRA_BROADCAST_ADDRESS":     addr,
			"CASSANDRA_RPC_ADDRESS":           addr,
			"CASSANDRA_BROADCAST_RPC_ADDRESS": addr,
			"CASSANDRA_SEEDS":                 addr,
			"CASSANDRA_CLUSTER_NAME":          "stickybucket-it",
			"CASSANDRA_DC":                    "datacenter1",
			"CASSANDRA_ENDPOINT_SNITCH":       "SimpleSnitch",
			"MAX_HEAP_SIZE":                   "1G",
			"HEAP_NEWSIZE":                    "256M",
			"JVM_EXTRA_OPTS":                  "-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100",
			"CASSANDRA_NUM_TOKENS":            "16",
		},
		// Host networking: no registry means no Ryuk and no port-mapping
		// sidecars, and binding to a loopback address keeps test traffic on
		// this machine.
		HostConfigModifier: func(hc *container.HostConfig) { hc.NetworkMode = "host" },
		WaitingFor:         wait.ForLog("Starting listening for CQL clients").WithStartupTimeout(startTimeout),
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		if c != nil {
			_ = c.Terminate(context.Background())
		}
		return nil, fmt.Errorf("start Cassandra container from image %s on %s: %w", image, addr, err)
	}
	n := &node{hosts: []string{addr}, port: cqlPort, container: c}
	if err := n.awaitCQL(ctx, startTimeout); err != nil {
		_ = c.Terminate(context.Background())
		return nil, err
	}
	return n, nil
}

var errDockerUnavailable = errors.New("no Docker engine")

func dockerAvailable(ctx context.Context) error {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Health(ctx)
}

// freeLoopback picks a loopback address whose CQL and storage ports are
// free, so a stray node from an earlier run cannot answer for this one.
func freeLoopback() (string, error) {
	for i := 2; i < 64; i++ {
		addr := fmt.Sprintf("127.0.0.%d", i)
		if portsFree(addr, cqlPort, 7000) {
			return addr, nil
		}
	}
	return "", errors.New("no loopback address 127.0.0.2-63 has ports 9042 and 7000 free")
}

func portsFree(addr string, ports ...int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// awaitCQL polls until the node answers a query: the log line says the
// port is open, not that the node finished starting.
func (n *node) awaitCQL(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s, err := n.cluster().CreateSession()
		if err == nil {
			var v string
			err = s.Query("SELECT release_version FROM system.local").WithContext(ctx).Scan(&v)
			s.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("Cassandra at %v did not answer CQL within %v: %w", n.hosts, timeout, last)
}

// restart stops and starts the container, keeping its data, and waits for
// CQL again.
func (n *node) restart(ctx context.Context) error {
	stop := 60 * time.Second
	if err := n.container.Stop(ctx, &stop); err != nil {
		return fmt.Errorf("stop Cassandra: %w", err)
	}
	return n.start(ctx)
}

func (n *node) start(ctx context.Context) error {
	if err := n.container.Start(ctx); err != nil {
		return fmt.Errorf("start Cassandra: %w", err)
	}
	return n.awaitCQL(ctx, startTimeout)
}

func (n *node) stop(ctx context.Context) error {
	stop := 60 * time.Second
	return n.container.Stop(ctx, &stop)
}

func (n *node) terminate() {
	if n.container != nil {
		_ = n.container.Terminate(context.Background())
	}
}
