package integration

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
)

// TestMigrateWithProductionCluster runs Migrate with the cluster
// configuration the product builds (cassandra.NewCluster, token-aware),
// as `stickybucket migrate` does, rather than the tests' plain one. gocql
// panics when a second session initialises a token-aware policy, and
// Migrate opens two sessions; the cluster must also stay usable for the
// caller's own session afterwards.
func TestMigrateWithProductionCluster(t *testing.T) {
	e := env(t, keyspace(t, "migrate_prod"), time.Hour, nil)
	conn := config.Default().Cassandra
	conn.Hosts, conn.Port = cass.hosts, cass.port
	conn.Timeout = config.Duration(10 * time.Second)
	conn.ConnectTimeout = config.Duration(10 * time.Second)
	cluster, err := cassandra.NewCluster(conn, e)
	if err != nil {
		t.Fatal(err)
	}
	// A panic here would kill the test binary and leave the node running.
	noPanic := func(what string, f func() error) {
		t.Helper()
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			err = f()
		}()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for i := range 2 {
		noPanic(fmt.Sprintf("Migrate #%d", i+1), func() error {
			return cassandra.Migrate(context.Background(), cluster, e, slog.Default())
		})
	}
	noPanic("a session after Migrate", func() error {
		s, err := cluster.CreateSession()
		if err != nil {
			return err
		}
		defer s.Close()
		var n int
		return s.Query("SELECT COUNT(*) FROM " + e.Keyspace + ".assignments").Scan(&n)
	})
}
