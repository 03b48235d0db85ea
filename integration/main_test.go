package integration

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/integration/testcluster"
)

// Shared by every test of this binary: starting Cassandra takes tens of
// seconds, so it happens once here and never per test.
var (
	// cass is a one-node cluster this binary started, or the existing
	// cluster CASSANDRA_HOSTS names.
	cass *testcluster.Cluster
	// admin is a session without a keyspace for direct CQL checks (TTLs,
	// row counts) that the store's API does not expose.
	admin *gocql.Session
	// runID keeps this run's keyspaces apart from other runs on a shared
	// cluster (CASSANDRA_HOSTS); they are dropped at the end.
	runID     = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	keyspaces []string
	// replication keeps one replica of the tests' data per datacenter, and
	// localDC is the datacenter the tests read and write in at LOCAL_ONE:
	// SimpleStrategy and no local DC on one DC (the node this binary
	// starts); on an existing cluster with several DCs (CASSANDRA_HOSTS),
	// NetworkTopologyStrategy and the first node's DC, since SimpleStrategy
	// would put the one replica in any DC and LOCAL_ONE could not reach it.
	replication = config.Replication{Class: config.SimpleStrategy, ReplicationFactor: 1}
	localDC     string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	started := time.Now()
	c, err := testcluster.FromEnv(ctx, testcluster.Options{Heap: "1G", HeapNew: "256M", Logf: harnessLogf})
	if err != nil {
		if errors.Is(err, testcluster.ErrDockerUnavailable) && os.Getenv("CI") != "true" {
			fmt.Printf("SKIP integration tests: %v (run `make test`, which installs and starts Docker, or set CASSANDRA_HOSTS)\n", err)
			return 0
		}
		log.Printf("integration: cannot start Cassandra: %v", err)
		return 1
	}
	cass = c
	defer func() {
		if err := cass.Close(context.Background()); err != nil {
			log.Printf("integration: %v", err)
		}
	}()

	if layout := cass.Layout(); len(layout) > 1 {
		replication = config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: map[string]int{}}
		for dc := range layout {
			replication.Datacenters[dc] = 1
		}
		localDC = cass.Node(0).DC()
		log.Printf("integration: %d datacenters; keyspaces get one replica in each, tests run in %s", len(layout), localDC)
	}
	admin, err = cluster().CreateSession()
	if err != nil {
		log.Printf("integration: connect to %v: %v", cass.Hosts(), err)
		return 1
	}
	defer func() {
		for _, ks := range keyspaces {
			_ = admin.Query("DROP KEYSPACE IF EXISTS " + ks).Exec()
		}
		admin.Close()
	}()
	var version, name string
	if err := admin.Query("SELECT release_version, cluster_name FROM system.local").Scan(&version, &name); err != nil {
		log.Printf("integration: read release_version: %v", err)
		return 1
	}
	log.Printf("integration: Cassandra release_version=%s cluster=%q at %v, ready in %s",
		version, name, cass.Hosts(), time.Since(started).Round(100*time.Millisecond))
	return m.Run()
}

// harnessLog, when set, receives the harness's progress lines instead of
// log.Printf: see logHarnessTo.
var harnessLog atomic.Pointer[func(format string, args ...any)]

func harnessLogf(format string, args ...any) {
	if f := harnessLog.Load(); f != nil {
		(*f)(format, args...)
		return
	}
	log.Printf(format, args...)
}

// logHarnessTo sends the harness's progress lines (a node unpaused, no
// compaction for so long) to tb's log until tb ends. A benchmark that
// pauses the node or waits for compactions needs it: go test prints a
// benchmark's name before running it, and a log line printed meanwhile
// splits the result line in two, which benchstat cannot parse.
func logHarnessTo(tb testing.TB) {
	f := tb.Logf
	harnessLog.Store(&f)
	tb.Cleanup(func() { harnessLog.Store(nil) })
}

// cluster returns a new configuration for the cluster, preferring localDC,
// with a host selection policy of its own: create one session per call.
func cluster() *gocql.ClusterConfig {
	c := cass.ClusterConfig(localDC)
	c.Timeout = 10 * time.Second
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.LocalOne
	return c
}

// keyspace returns a keyspace name unique to this run, remembered for the
// final clean-up.
func keyspace(t testing.TB, purpose string) string {
	t.Helper()
	ks := "sbit_" + runID + "_" + purpose
	keyspaces = append(keyspaces, ks)
	return ks
}
