package multidc

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// env is the environment every test here keeps its assignments in:
// NetworkTopologyStrategy {dc1: 3, dc2: 1}, one hour of retention, the
// given consistency levels, and localDC as the process's own region.
func env(t testing.TB, ks, localDC, read, write string) config.Environment {
	t.Helper()
	e := config.Environment{
		Retention: config.Duration(time.Hour),
		Keyspace:  ks,
		Replication: config.Replication{
			Class:       config.NetworkTopologyStrategy,
			Datacenters: map[string]int{dc1: 3, dc2: 1},
		},
		ReadConsistency:  read,
		WriteConsistency: write,
		LocalDC:          localDC,
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// connection is how every store here reaches the cluster: all four nodes
// as contact points; the environment's LocalDC then picks coordinators.
func connection() config.Connection {
	return config.Connection{
		Hosts:          cluster.Hosts(),
		Port:           cluster.Port(),
		ConnectTimeout: config.Duration(5 * time.Second),
		Timeout:        config.Duration(5 * time.Second),
	}
}

// productionCluster is the gocql configuration the product builds for e
// (cassandra.NewCluster: token-aware over DC-aware round robin, retries of
// idempotent statements), with gocql's own log discarded: a killed node
// makes it log every reconnection attempt.
func productionCluster(t testing.TB, e config.Environment) *gocql.ClusterConfig {
	t.Helper()
	clusterOpts, err := stack.CassandraClusterOptions(connection(), e)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cassandra.NewCluster(clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	c.Logger = log.New(io.Discard, "", 0)
	return c
}

// migrated remembers the keyspaces already migrated by this binary.
var migrated sync.Map

// migrate creates keyspace ks with the layout's replication and the schema,
// once per keyspace, through the product's Migrate.
func migrate(t testing.TB, ks string) {
	t.Helper()
	if _, done := migrated.Load(ks); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := env(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	c := productionCluster(t, e)
	// The first schema change of a fresh cluster on busy cores took longer
	// than the 5s the stores' sessions wait.
	c.Timeout = 30 * time.Second
	if err := cassandra.Migrate(ctx, c, stack.CassandraMigrateOptions(e, slog.Default())); err != nil {
		t.Fatalf("Migrate %s: %v", ks, err)
	}
	migrated.Store(ks, true)
}

// storeIn returns a store on keyspace ks (migrated first if needed) whose
// session is its own and prefers datacenter dc for coordinators, reading
// and writing at the given consistency levels. The session closes when the
// test ends.
//
// This is where a first-writer-wins test gets its contenders: two stores,
// storeIn(t, ks, dc1, …) and storeIn(t, ks, dc2, …), each coordinated in
// its own DC, racing SaveFirst for one new user. (Paxos at LOCAL_SERIAL
// involves the coordinator's DC only; only SERIAL spans both DCs.)
func storeIn(t testing.TB, ks, dc, read, write string) *cassandra.Store {
	t.Helper()
	migrate(t, ks)
	e := env(t, ks, dc, read, write)
	session, err := productionCluster(t, e).CreateSession()
	if err != nil {
		t.Fatalf("connect to %s preferring %s: %v", cluster.Hosts(), dc, err)
	}
	t.Cleanup(session.Close)
	return storeOn(t, session, e)
}

// storeOn returns a store for e on an existing session.
func storeOn(t testing.TB, session *gocql.Session, e config.Environment) *cassandra.Store {
	t.Helper()
	opts, err := stack.CassandraStoreOptions(e)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cassandra.NewStore(session, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// warmUp saves through s until want saves in a row succeed: a fresh
// cluster timed out writes in its first seconds (JIT, first flushes, first
// connections), which must not count against what a test measures. It
// returns how many saves failed on the way.
func warmUp(t testing.TB, s ups.Service, want int) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	failed, streak := 0, 0
	for i := 0; streak < want; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("warm-up: no %d saves in a row within 2 minutes (%d failed)", want, failed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p := ups.NewProfile(fmt.Sprintf("warmup-%d", i))
		p.Set("3001", "4001")
		err := s.Save(ctx, p)
		cancel()
		if err != nil {
			failed++
			streak = 0
			continue
		}
		streak++
	}
	if failed > 0 {
		t.Logf("warm-up: %d saves failed before %d succeeded in a row", failed, want)
	}
	return failed
}

// restoreAtEnd brings every node back when the test ends, whatever
// happened, and waits until the hints written meanwhile are delivered, so
// the tests after it find the whole cluster, and not busy catching up.
func restoreAtEnd(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		restored := false
		for _, n := range cluster.Nodes() {
			if !n.Running() {
				restored = true
			}
			if err := n.Restore(ctx); err != nil {
				t.Errorf("bring node %s back: %v", n, err)
			}
		}
		if restored {
			began := time.Now()
			if err := cluster.WaitHintsDelivered(ctx); err != nil {
				t.Logf("hints after restoring the cluster: %v", err)
			} else {
				t.Logf("cluster restored, hints delivered after %s", since(began))
			}
		}
	})
}

// eventually calls f until it returns nil or limit passes, and returns how
// long that took and f's last error.
func eventually(limit time.Duration, f func() error) (time.Duration, error) {
	began := time.Now()
	for {
		err := f()
		if err == nil || time.Since(began) > limit {
			return time.Since(began), err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
