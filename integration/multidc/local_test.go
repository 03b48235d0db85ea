package multidc

import (
	"context"
	"fmt"
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

// coordinators counts, by datacenter, the hosts that coordinated the
// attempts of a session's queries and batches (gocql's observers see every
// attempt, retries included).
type coordinators struct {
	mu   sync.Mutex
	byDC map[string]int
}

func (c *coordinators) note(h *gocql.HostInfo) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byDC[h.DataCenter()]++
}

func (c *coordinators) ObserveQuery(_ context.Context, q gocql.ObservedQuery) { c.note(q.Host) }
func (c *coordinators) ObserveBatch(_ context.Context, b gocql.ObservedBatch) { c.note(b.Host) }

func (c *coordinators) count(dc string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byDC[dc]
}

// TestLocalQuorumStaysLocal: a dc1 process at LOCAL_QUORUM, with one of
// dc1's nodes killed, sends no query or retry to a dc2 coordinator. On a
// keyspace with RF 2 in dc1, the partitions of the dead node cannot reach
// dc1's quorum: those calls fail, in dc1. With remote_dc_fallback, the
// same calls go to dc2, where LOCAL_QUORUM is dc2's quorum and succeeds
// (the control: it shows the coordinators are observed and what the
// fallback costs in consistency). On the tests' RF 3 keyspace, every call
// succeeds, in dc1.
func TestLocalQuorumStaysLocal(t *testing.T) {
	if !cluster.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test kills a node it would have started")
	}
	restoreAtEnd(t)
	rf3 := keyspace(t, "local_rf3")
	rf2 := keyspace(t, "local_rf2")
	migrate(t, rf3)
	migrateWith(t, rf2, map[string]int{dc1: 2, dc2: 1})
	warmUp(t, storeIn(t, rf3, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM"), 50)

	victim := cluster.NodesIn(dc1)[0]
	if err := victim.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s", victim)

	type result struct{ ok, failed, inDC2 int }
	load := func(ks string, repl map[string]int, fallback bool) result {
		e := env(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
		e.Replication.Datacenters = repl
		e.RemoteDCFallback = fallback
		cfg := productionCluster(t, e)
		obs := &coordinators{byDC: map[string]int{}}
		cfg.QueryObserver, cfg.BatchObserver = obs, obs
		session, err := cfg.CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close()
		s := storeOn(t, session, e)
		var r result
		for i := range 200 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			p := ups.NewProfile(fmt.Sprintf("local-%s-%v-%03d", ks, fallback, i))
			p.Set("3001", "4001")
			err := s.Save(ctx, p)
			if err == nil {
				_, _, err = s.LookupAssignment(ctx, p.UserID, "3001")
			}
			cancel()
			if err != nil {
				r.failed++
			} else {
				r.ok++
			}
		}
		r.inDC2 = obs.count(dc2)
		t.Logf("keyspace %s %v, remote_dc_fallback %v: %d users saved and read back, %d failed; coordinators: %v",
			ks, repl, fallback, r.ok, r.failed, obs.byDC)
		return r
	}

	if r := load(rf3, map[string]int{dc1: 3, dc2: 1}, false); r.inDC2 != 0 || r.failed != 0 {
		t.Errorf("RF 3 in dc1, one dc1 node down: %d attempts coordinated in dc2, %d calls failed; want none of either", r.inDC2, r.failed)
	}
	local := load(rf2, map[string]int{dc1: 2, dc2: 1}, false)
	if local.inDC2 != 0 {
		t.Errorf("RF 2 in dc1, one dc1 node down: %d attempts coordinated in dc2; want none", local.inDC2)
	}
	if local.failed == 0 {
		t.Errorf("RF 2 in dc1, one dc1 node down: no call failed; the dead node's partitions cannot reach dc1's quorum")
	}
	remote := load(rf2, map[string]int{dc1: 2, dc2: 1}, true)
	if remote.inDC2 == 0 || remote.failed >= local.failed {
		t.Errorf("with remote_dc_fallback: %d attempts in dc2 and %d failed (without it %d failed); want the fallback to reach dc2 and fail less",
			remote.inDC2, remote.failed, local.failed)
	}
}

// migrateWith creates keyspace ks with replication repl (instead of the
// layout's) and the schema.
func migrateWith(t testing.TB, ks string, repl map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := env(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	e.Replication = config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: repl}
	c := productionCluster(t, e)
	c.Timeout = 30 * time.Second
	if err := cassandra.Migrate(ctx, c, stack.CassandraMigrateOptions(e, slog.Default())); err != nil {
		t.Fatalf("Migrate %s: %v", ks, err)
	}
	migrated.Store(ks, true)
}
