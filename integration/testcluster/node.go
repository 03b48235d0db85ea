package testcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

type nodeState int

const (
	stateCreated nodeState = iota // no container running yet
	stateRunning
	statePaused
	stateStopped // killed or stopped
)

func (s nodeState) String() string {
	switch s {
	case stateCreated:
		return "not started"
	case stateRunning:
		return "running"
	case statePaused:
		return "paused"
	default:
		return "stopped"
	}
}

// pollEvery is how often the harness re-checks a node or the ring while it
// waits.
const pollEvery = 500 * time.Millisecond

// Node is one Cassandra node of a Cluster. Its methods are safe for
// concurrent use; the fault methods (Kill, Stop, Start, Pause, Unpause)
// return ErrNotManaged on an attached cluster.
type Node struct {
	cluster *Cluster
	index   int
	addr    string
	dc      string
	rack    string
	seed    bool

	mu      sync.Mutex
	state   nodeState
	ctr     testcontainers.Container // nil when attached or not created
	session *gocql.Session           // pinned to this node; nil until used
}

// Addr is the node's loopback address, where it serves CQL (Cluster.Port)
// and gossip.
func (n *Node) Addr() string { return n.addr }

// DC is the node's datacenter.
func (n *Node) DC() string { return n.dc }

// Rack is the node's rack.
func (n *Node) Rack() string { return n.rack }

// Seed reports whether the node is its datacenter's seed.
func (n *Node) Seed() bool { return n.seed }

// ContainerName is the name of the node's Docker container (for docker
// kill, pause and start by hand); "" for a node of an attached cluster.
func (n *Node) ContainerName() string {
	if n.cluster.id == "" {
		return ""
	}
	return fmt.Sprintf("sbtc-%s-%d-%s", n.cluster.id, n.index+1, n.dc)
}

// String names the node for logs and test messages.
func (n *Node) String() string { return fmt.Sprintf("%s (%s/%s)", n.addr, n.dc, n.rack) }

// Running reports whether the node is started and not paused.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state == stateRunning
}

// ClusterConfig returns a gocql configuration whose sessions talk to this
// node only: it coordinates every query, whatever the consistency level.
// Use it to read a node's own view (virtual tables) or to make a node the
// coordinator. The sessions do not subscribe to the node's events: a peer
// going up or down made gocql refresh its ring and drop the one host it
// was allowed to use.
func (n *Node) ClusterConfig() *gocql.ClusterConfig {
	cfg := gocql.NewCluster(n.addr)
	cfg.Port = n.cluster.port
	cfg.Timeout = 5 * time.Second
	cfg.ConnectTimeout = 5 * time.Second
	cfg.Consistency = gocql.One
	cfg.NumConns = 1
	cfg.DisableInitialHostLookup = true
	cfg.HostFilter = gocql.WhiteListHostFilter(n.addr)
	cfg.Events.DisableNodeStatusEvents = true
	cfg.Events.DisableTopologyEvents = true
	cfg.Events.DisableSchemaEvents = true
	cfg.Logger = log.New(io.Discard, "", 0)
	return cfg
}

// create creates the node's container without starting it: from then on
// the container's environment shows the address as taken to other runs
// (busyAddrs).
func (n *Node) create(ctx context.Context, opts Options, seeds []string) error {
	c := n.cluster
	req := testcontainers.ContainerRequest{
		Image:  opts.Image,
		Name:   n.ContainerName(),
		Env:    opts.env(n.index, n.addr, seeds),
		Labels: map[string]string{labelKey: c.id},
		// Host networking: nodes reach each other and the tests on their
		// loopback addresses, with no port mapping and nothing exposed
		// beyond this machine.
		HostConfigModifier: func(hc *container.HostConfig) { hc.NetworkMode = "host" },
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req})
	if ctr != nil {
		n.mu.Lock()
		n.ctr = ctr
		n.state = stateCreated
		n.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("testcluster: create node %s from image %s: %w", n, opts.Image, err)
	}
	return nil
}

// boot starts the created container for the first time.
func (n *Node) boot(ctx context.Context) error {
	ctr, err := n.managed("start", stateCreated)
	if err != nil {
		return err
	}
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("testcluster: start node %s: %w", n, err)
	}
	n.setState(stateRunning)
	return nil
}

// remove force-removes the container, unpausing it first.
func (n *Node) remove(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctr == nil {
		return nil
	}
	docker := n.cluster.docker.Client()
	if n.state == statePaused {
		_, _ = docker.ContainerUnpause(ctx, n.ctr.GetContainerID(), client.ContainerUnpauseOptions{})
	}
	_, err := docker.ContainerRemove(ctx, n.ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil {
		return fmt.Errorf("testcluster: remove node %s: %w", n, err)
	}
	n.ctr = nil
	n.state = stateStopped
	return nil
}

// managed returns the node's container when it is in one of the states
// an operation needs.
func (n *Node) managed(op string, want ...nodeState) (testcontainers.Container, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cluster.docker == nil || n.ctr == nil {
		return nil, fmt.Errorf("%s node %s: %w", op, n, ErrNotManaged)
	}
	for _, s := range want {
		if n.state == s {
			return n.ctr, nil
		}
	}
	return nil, fmt.Errorf("testcluster: %s node %s: it is %s", op, n, n.state)
}

func (n *Node) setState(s nodeState) {
	n.mu.Lock()
	n.state = s
	n.mu.Unlock()
}

// Kill sends SIGKILL to the node (docker kill) and returns once its
// container has exited. The other nodes notice only when their failure
// detectors convict it, seconds later.
func (n *Node) Kill(ctx context.Context) error {
	ctr, err := n.managed("kill", stateRunning)
	if err != nil {
		return err
	}
	n.closeSession()
	docker := n.cluster.docker.Client()
	if _, err := docker.ContainerKill(ctx, ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("testcluster: kill node %s: %w", n, err)
	}
	n.setState(stateStopped)
	for {
		st, err := ctr.State(ctx)
		if err != nil {
			return fmt.Errorf("testcluster: kill node %s: inspect: %w", n, err)
		}
		if !st.Running {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("testcluster: kill node %s: still running: %w", n, err)
		}
	}
}

// Stop shuts the node down gracefully (SIGTERM, then SIGKILL after a
// minute) and returns once every running node's gossip shows it shut
// down, so no coordinator sends it requests any more.
func (n *Node) Stop(ctx context.Context) error {
	ctr, err := n.managed("stop", stateRunning)
	if err != nil {
		return err
	}
	n.closeSession()
	began := time.Now()
	timeout := time.Minute
	if err := ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("testcluster: stop node %s: %w", n, err)
	}
	n.setState(stateStopped)
	if err := n.cluster.awaitShutdownSeen(ctx, n); err != nil {
		return err
	}
	n.cluster.logf("testcluster: node %s stopped and seen down in %s", n, since(began))
	return nil
}

// Start starts a killed or stopped node again, keeping its data, and
// returns once it answers CQL and every running node sees it alive (and
// it sees them), logging how long each took.
func (n *Node) Start(ctx context.Context) error {
	ctr, err := n.managed("start", stateStopped)
	if err != nil {
		return err
	}
	began := time.Now()
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("testcluster: start node %s: %w", n, err)
	}
	n.setState(stateRunning)
	if err := n.awaitCQL(ctx, 5*time.Minute); err != nil {
		return err
	}
	cql := since(began)
	if err := n.cluster.WaitAlive(ctx); err != nil {
		return err
	}
	n.cluster.logf("testcluster: node %s restarted: answered CQL %s and was seen alive by every running node %s after docker start",
		n, cql, since(began))
	return nil
}

// Pause freezes every process of the node (docker pause): its sockets stay
// open but nothing answers, as with a long GC pause or a partition.
func (n *Node) Pause(ctx context.Context) error {
	ctr, err := n.managed("pause", stateRunning)
	if err != nil {
		return err
	}
	n.closeSession()
	// The cgroup freezer gives up ("unable to freeze") when the node's
	// threads keep it busy at that moment; trying again succeeds.
	for attempt := range pauseAttempts {
		if _, err = n.cluster.docker.Client().ContainerPause(ctx, ctr.GetContainerID(), client.ContainerPauseOptions{}); err == nil {
			n.setState(statePaused)
			return nil
		}
		if !strings.Contains(err.Error(), "unable to freeze") || attempt == pauseAttempts-1 {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("testcluster: pause node %s: %w", n, ctx.Err())
		}
	}
	return fmt.Errorf("testcluster: pause node %s: %w", n, err)
}

// pauseAttempts bounds the tries of a pause the freezer refused.
const pauseAttempts = 5

// Unpause resumes a paused node and returns once every running node sees
// it alive again.
func (n *Node) Unpause(ctx context.Context) error {
	ctr, err := n.managed("unpause", statePaused)
	if err != nil {
		return err
	}
	began := time.Now()
	if _, err := n.cluster.docker.Client().ContainerUnpause(ctx, ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("testcluster: unpause node %s: %w", n, err)
	}
	n.setState(stateRunning)
	if err := n.cluster.WaitAlive(ctx); err != nil {
		return err
	}
	n.cluster.logf("testcluster: node %s unpaused and seen alive in %s", n, since(began))
	return nil
}

// Restore brings a killed, stopped or paused node back (Start or
// Unpause); it does nothing to a running node. Tests defer it so that a
// failure half-way leaves the cluster whole for the tests after them.
func (n *Node) Restore(ctx context.Context) error {
	n.mu.Lock()
	st := n.state
	n.mu.Unlock()
	switch st {
	case statePaused:
		return n.Unpause(ctx)
	case stateStopped:
		return n.Start(ctx)
	}
	return nil
}

// awaitCQL polls until the node answers CQL as a member of this cluster
// in its DC: the "listening for CQL clients" log line says the port is
// open, not that the node can serve, and an address some other run's node
// answers on must not pass.
func (n *Node) awaitCQL(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := n.exited(ctx); err != nil {
			return err
		}
		var name, dc string
		last = n.query(ctx, func(s *gocql.Session) error {
			return s.Query("SELECT cluster_name, data_center FROM system.local").WithContext(ctx).Scan(&name, &dc)
		})
		if last == nil {
			if name != n.cluster.name || dc != n.dc {
				return fmt.Errorf("testcluster: %s answers as cluster %q DC %q, want %q DC %q: another node holds this address",
					n.addr, name, dc, n.cluster.name, n.dc)
			}
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return fmt.Errorf("testcluster: node %s did not answer CQL within %v: %w (last error: %v)%s",
				n, timeout, err, last, n.logTail(context.WithoutCancel(ctx)))
		}
	}
}

// exited returns an error with the container's last log lines if its
// process has ended, so a node that cannot start fails at once instead of
// at the timeout.
func (n *Node) exited(ctx context.Context) error {
	n.mu.Lock()
	ctr := n.ctr
	n.mu.Unlock()
	if ctr == nil {
		return nil
	}
	st, err := ctr.State(ctx)
	if err != nil || st.Running {
		return nil
	}
	return fmt.Errorf("testcluster: node %s exited with status %d while starting%s", n, st.ExitCode, n.logTail(ctx))
}

// logTail returns the container's last log lines, indented, for errors.
func (n *Node) logTail(ctx context.Context) string {
	n.mu.Lock()
	ctr := n.ctr
	n.mu.Unlock()
	if ctr == nil {
		return ""
	}
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	const keep = 25
	var lines []string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > keep {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "; last log lines:\n\t" + strings.Join(lines, "\n\t")
}

// query runs fn on the session pinned to this node, opening it if needed;
// after an error the session is dropped, so the next call reconnects
// (gocql itself would wait a minute before retrying a host it saw go down).
func (n *Node) query(ctx context.Context, fn func(*gocql.Session) error) error {
	n.mu.Lock()
	s := n.session
	n.mu.Unlock()
	if s == nil {
		var err error
		if s, err = n.ClusterConfig().CreateSession(); err != nil {
			return fmt.Errorf("connect to %s: %w", n.addr, err)
		}
		n.mu.Lock()
		if n.session != nil { // another caller connected meanwhile
			s.Close()
			s = n.session
		} else {
			n.session = s
		}
		n.mu.Unlock()
	}
	if err := fn(s); err != nil {
		n.mu.Lock()
		if n.session == s {
			n.session = nil
		}
		n.mu.Unlock()
		s.Close()
		return err
	}
	return nil
}

func (n *Node) closeSession() {
	n.mu.Lock()
	s := n.session
	n.session = nil
	n.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// exec runs cmd in the node's container and returns its standard output.
func (n *Node) exec(ctx context.Context, cmd ...string) (string, error) {
	ctr, err := n.managed("exec in", stateRunning)
	if err != nil {
		return "", err
	}
	code, out, err := ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("testcluster: %v in node %s: %w", cmd, n, err)
	}
	b, err := io.ReadAll(out)
	if err != nil {
		return "", fmt.Errorf("testcluster: %v in node %s: read output: %w", cmd, n, err)
	}
	if code != 0 {
		return "", fmt.Errorf("testcluster: %v in node %s: exit status %d: %s", cmd, n, code, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Memory returns the memory the node's container uses, counted as docker
// stats counts it (usage less inactive page cache).
func (n *Node) Memory(ctx context.Context) (uint64, error) {
	ctr, err := n.managed("measure memory of", stateRunning, statePaused)
	if err != nil {
		return 0, err
	}
	res, err := n.cluster.docker.Client().ContainerStats(ctx, ctr.GetContainerID(), client.ContainerStatsOptions{})
	if err != nil {
		return 0, fmt.Errorf("testcluster: stats of node %s: %w", n, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("testcluster: stats of node %s: decode: %w", n, err)
	}
	m := st.MemoryStats
	cache := m.Stats["inactive_file"]                // cgroup v2
	if v, ok := m.Stats["total_inactive_file"]; ok { // cgroup v1
		cache = v
	}
	if cache > m.Usage {
		cache = 0
	}
	return m.Usage - cache, nil
}

// LogMemory logs the memory every started node uses, as docker stats
// would show it.
func (c *Cluster) LogMemory(ctx context.Context, when string) {
	if !c.Managed() {
		return
	}
	var parts []string
	var total uint64
	for _, n := range c.nodes {
		b, err := n.Memory(ctx)
		if err != nil {
			continue
		}
		total += b
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", n.addr, float64(b)/(1<<20)))
	}
	c.logf("testcluster: memory %s: %s (total %.2f GiB)", when, strings.Join(parts, ", "), float64(total)/(1<<30))
}
