package integration

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// Shared by every test of this binary: starting Cassandra takes tens of
// seconds, so it happens once here and never per test.
var (
	cass *node
	// admin is a session without a keyspace for direct CQL checks (TTLs,
	// row counts) that the store's API does not expose.
	admin *gocql.Session
	// runID keeps this run's keyspaces apart from other runs on a shared
	// cluster (CASSANDRA_HOSTS); they are dropped at the end.
	runID     = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	keyspaces []string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	started := time.Now()
	n, err := startNode(ctx)
	if err != nil {
		if errors.Is(err, errDockerUnavailable) && os.Getenv("CI") != "true" {
			fmt.Printf("SKIP integration tests: %v (run `make test`, which installs and starts Docker, or set CASSANDRA_HOSTS)\n", err)
			return 0
		}
		log.Printf("integration: cannot start Cassandra: %v", err)
		return 1
	}
	cass = n
	defer cass.terminate()

	admin, err = cass.cluster().CreateSession()
	if err != nil {
		log.Printf("integration: connect to %v: %v", cass.hosts, err)
		return 1
	}
	defer func() {
		for _, ks := range keyspaces {
			_ = admin.Query("DROP KEYSPACE IF EXISTS " + ks).Exec()
		}
		admin.Close()
	}()
	var version, cluster string
	if err := admin.Query("SELECT release_version, cluster_name FROM system.local").Scan(&version, &cluster); err != nil {
		log.Printf("integration: read release_version: %v", err)
		return 1
	}
	log.Printf("integration: Cassandra release_version=%s cluster=%q at %v, ready in %s",
		version, cluster, cass.hosts, time.Since(started).Round(100*time.Millisecond))
	return m.Run()
}

// keyspace returns a keyspace name unique to this run, remembered for the
// final clean-up.
func keyspace(t testing.TB, purpose string) string {
	t.Helper()
	ks := "sbit_" + runID + "_" + purpose
	keyspaces = append(keyspaces, ks)
	return ks
}
