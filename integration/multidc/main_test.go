package multidc

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/testcluster"
)

// The layout every test here assumes.
const (
	dc1 = "dc1"
	dc2 = "dc2"
)

var layout = map[string]int{dc1: 3, dc2: 1}

// Shared by every test of this binary: the cluster takes a minute to
// start, so it starts once.
var (
	cluster *testcluster.Cluster
	// runID keeps this run's keyspaces apart from other runs on a shared
	// cluster (CASSANDRA_HOSTS); they are dropped at the end.
	runID     = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	keyspaces []string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ci := os.Getenv("CI") == "true"
	c, err := testcluster.FromEnv(ctx, testcluster.Options{Nodes: []testcluster.NodeOptions{
		{DC: dc1, Rack: "rack1"}, {DC: dc1, Rack: "rack1"}, {DC: dc1, Rack: "rack1"}, {DC: dc2, Rack: "rack1"},
	}})
	if err != nil {
		if errors.Is(err, testcluster.ErrDockerUnavailable) && !ci {
			fmt.Printf("SKIP multidc tests: %v (run `make test`, which installs and starts Docker, or set CASSANDRA_HOSTS to a cluster with %v)\n", err, layout)
			return 0
		}
		log.Printf("multidc: cannot start the cluster: %v", err)
		return 1
	}
	cluster = c
	defer func() {
		if err := cluster.Close(context.Background()); err != nil {
			log.Printf("multidc: %v", err)
		}
	}()
	// Only an existing cluster (CASSANDRA_HOSTS) can differ. It is skipped
	// even in CI: a single-node cluster there serves ./integration.
	if got := cluster.Layout(); !maps.Equal(got, layout) {
		fmt.Printf("SKIP multidc tests: the cluster at %v has nodes per datacenter %v; these tests need %v\n",
			cluster.Hosts(), got, layout)
		return 0
	}
	cluster.LogMemory(ctx, "after start")
	code := m.Run()
	cluster.LogMemory(context.Background(), "after the tests")
	dropKeyspaces()
	return code
}

// keyspace returns a keyspace name unique to this run, remembered for the
// final clean-up.
func keyspace(t testing.TB, purpose string) string {
	t.Helper()
	ks := "sbdc_" + runID + "_" + purpose
	keyspaces = append(keyspaces, ks)
	return ks
}

func dropKeyspaces() {
	if len(keyspaces) == 0 {
		return
	}
	cfg := cluster.ClusterConfig(dc1)
	cfg.Timeout = 30 * time.Second // a schema change on four busy nodes
	s, err := cfg.CreateSession()
	if err != nil {
		log.Printf("multidc: drop keyspaces: %v", err)
		return
	}
	defer s.Close()
	for _, ks := range keyspaces {
		if err := s.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			log.Printf("multidc: drop keyspace %s: %v", ks, err)
		}
	}
}
